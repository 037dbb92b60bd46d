"""/api/v1/: the REST API for integrations (see /api/v1/docs/)."""

from django.urls import path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import SimpleRouter

from accounts.api import TeamViewSet, UserViewSet
from campaigns.api import CampaignViewSet, InfoMaterialViewSet
from followups.api import FollowUpViewSet
from integrations.api import (
    ApiTokenViewSet,
    IntegrationTokenViewSet,
    TokenObtainView,
    WebhookDeliveryViewSet,
    WebhookSubscriptionViewSet,
)
from leadbridge.api.errors import not_found, problem_type
from leads.api import LeadViewSet
from privacy.api import PrivacyEraseView, PrivacyExportView
from reporting.api import DashboardView

router = SimpleRouter()
router.include_format_suffixes = False
router.register("campaigns", CampaignViewSet, basename="campaign")
router.register("materials", InfoMaterialViewSet, basename="material")
router.register("leads", LeadViewSet, basename="lead")
router.register("followups", FollowUpViewSet, basename="followup")
router.register("teams", TeamViewSet, basename="team")
router.register("users", UserViewSet, basename="user")
router.register("tokens", ApiTokenViewSet, basename="token")
router.register("integration-tokens", IntegrationTokenViewSet, basename="integration-token")
router.register("webhooks", WebhookSubscriptionViewSet, basename="webhook")
router.register("webhook-deliveries", WebhookDeliveryViewSet, basename="webhook-delivery")

app_name = "api"
urlpatterns = [
    path("auth/token/", TokenObtainView.as_view(), name="token-obtain"),
    path("dashboard/", DashboardView.as_view(), name="dashboard"),
    path("privacy/export/", PrivacyExportView.as_view(), name="privacy-export"),
    path("privacy/erase/", PrivacyEraseView.as_view(), name="privacy-erase"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Split: the init script is a separate request (?script), not inline, for the CSP.
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api:schema", template_name="api/swagger_ui.html"
        ),
        name="docs",
    ),
    *router.urls,
    # What a problem's `type` stands for (leadbridge.api.errors).
    path("problems/<slug:code>", problem_type, name="problem-type"),
    # Anything else under /api/v1/ answers a JSON 404, not the HTML page.
    re_path(r"^[\s\S]*$", not_found),  # [\s\S]: paths with a newline too
]
