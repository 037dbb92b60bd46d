"""`Authorization: Token <key>`: a per-integration API token, looked up by its hash."""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed

from .services import TokenExpired, token_authenticate


class TokenAuthentication(BaseAuthentication):
    keyword = "Token"

    def authenticate(self, request):
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword.lower().encode():
            return None
        if len(parts) != 2:
            raise AuthenticationFailed(_("Give the header as: Authorization: Token <key>."))
        try:
            key = parts[1].decode("ascii")
        except UnicodeError:
            raise AuthenticationFailed(
                _("The token contains characters a key never has.")
            ) from None
        try:
            token = token_authenticate(key=key, now=timezone.now())
        except TokenExpired as exc:
            raise AuthenticationFailed(
                _("This token expired on %(date)s; ask an administrator for a new one.")
                % {"date": timezone.localtime(exc.token.expires_at).isoformat()},
                code="token_expired",
            ) from None
        if token is None:
            raise AuthenticationFailed(_("Unknown or revoked token."))
        return token.user, token

    def authenticate_header(self, request):
        # Makes unauthenticated requests answer 401 (not 403) with a WWW-Authenticate header.
        return self.keyword


class TokenAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "integrations.authentication.TokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": str(
                _(
                    "An API token: `Token lb_…`. Get one with POST /api/v1/auth/token/ "
                    "or on the Integrations page."
                )
            ),
        }
