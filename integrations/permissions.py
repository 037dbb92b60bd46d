"""Who may call what: token scopes on top of the same role rules as the browser UI
(the role rules: each app's api.py)."""

from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import SAFE_METHODS, BasePermission

from .models import ApiToken, Scope


class TokenScopes(BasePermission):
    """A token does what its user may, within its scopes; a browser session is unscoped.

    Reads need `read`; writes need the view's `write_scope` (default leads:write).
    """

    def has_permission(self, request, view):
        token = request.auth
        if not isinstance(token, ApiToken):
            return True
        scope = (
            Scope.READ
            if request.method in SAFE_METHODS
            else getattr(view, "write_scope", Scope.LEADS_WRITE)
        )
        if token.has_scope(scope):
            return True
        self.message = _("This token lacks the scope “%(scope)s”.") % {"scope": scope}
        return False
