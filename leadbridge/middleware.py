"""Middleware of LeadBridge's own (settings.MIDDLEWARE lists where it runs)."""

from django.conf import settings
from django.utils.cache import add_never_cache_headers


class NoStoreWhenSignedInMiddleware:
    """`Cache-Control: no-store` on every answer to a signed-in user (session or token).

    Signed-in pages and CSV exports show leads' names, emails and phone numbers: no
    browser cache or proxy may keep a copy (the back button after logging out on a
    shared computer). Static files never get here (whitenoise answers them earlier),
    nor do public pages such as the web form.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # Decided from the request's credentials, not by asking who the user is: that
        # would read the session (and the database) on every answer, even one that
        # never needed them, and fail with the database down. A stale session cookie
        # errs on the safe side.
        if settings.SESSION_COOKIE_NAME in request.COOKIES or "HTTP_AUTHORIZATION" in request.META:
            add_never_cache_headers(response)
        return response
