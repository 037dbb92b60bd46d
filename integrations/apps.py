from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IntegrationsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "integrations"
    verbose_name = _("Integrations")

    def ready(self):
        # OpenAPI extensions register themselves on import.
        from accounts.models import Team, User
        from campaigns.models import Campaign, InfoMaterial
        from followups.models import SlaPolicy
        from leadbridge.lookups import invalidate_on

        from . import authentication  # noqa: F401
        from .models import ApiToken, WebhookSubscription

        # What API intake keeps in process memory (leadbridge.lookups.intake): tokens with
        # their users, campaigns with team, SLA policy and first material, SLA policies,
        # webhook subscriptions with their users.
        invalidate_on(
            ApiToken,
            User,
            Team,
            Campaign,
            Campaign.materials.through,
            InfoMaterial,
            SlaPolicy,
            WebhookSubscription,
        )
