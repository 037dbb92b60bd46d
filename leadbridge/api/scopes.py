"""What an API token may do. Each app's API views name the scope their writes need
(`write_scope`); integrations' tokens carry scopes and TokenScopes checks them."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Scope(models.TextChoices):
    READ = "read", _("Read everything the user may see")
    LEADS_WRITE = "leads:write", _("Send leads and record follow-up actions")
    CAMPAIGNS_WRITE = "campaigns:write", _("Create and edit campaigns and info material")
    WEBHOOKS = "webhooks", _("Manage webhook subscriptions")
    TOKENS = "tokens", _("Create and revoke integration tokens (administrators)")
