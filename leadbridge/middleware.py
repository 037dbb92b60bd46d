"""Middleware of LeadBridge's own (settings.MIDDLEWARE lists where it runs)."""

from django.utils.cache import add_never_cache_headers


class NoStoreWhenSignedInMiddleware:
    """`Cache-Control: no-store` on every answer to a signed-in user.

    Signed-in pages and CSV exports show leads' names, emails and phone numbers: no
    browser cache or proxy may keep a copy (the back button after logging out on a
    shared computer). Static files never get here (whitenoise answers them earlier),
    nor do public pages such as the web form.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if "no-store" in response.get("Cache-Control", ""):
            # Already (e.g. the outage page): and with the database down, asking who
            # the user is would fail.
            return response
        # DRF copies a token's user onto the request too, so API answers count.
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            add_never_cache_headers(response)
        return response
