"""The API's language: what Accept-Language asks for, else English.

The web UI stays German by default (LANGUAGE_CODE, LocaleMiddleware); an
integration written anywhere should get English unless it asks otherwise,
schema titles and problem details alike. The language cookie of the UI does
not count here: a request decides its own answer.
"""

from django.utils import translation

API_DEFAULT_LANGUAGE = "en"


def api_language(accept_language: str) -> str:
    """The first supported language in Accept-Language (by q-value), else English."""
    weighted = []
    for position, entry in enumerate(accept_language.split(",")[:20]):
        tag, _sep, params = entry.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and tag != "*" and quality > 0:
            weighted.append((-quality, position, tag))
    for _quality, _position, tag in sorted(weighted):
        try:
            return translation.get_supported_language_variant(tag.lower())
        except LookupError:
            continue
    return API_DEFAULT_LANGUAGE


class ApiLanguageMiddleware:
    """After LocaleMiddleware: re-chooses the language for /api/ requests only."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith("/api/"):
            language = api_language(request.headers.get("Accept-Language", ""))
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return self.get_response(request)
