from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("campaigns/", include("campaigns.urls")),
    # Public enquiry forms of campaigns (no login; embeddable): campaigns/urls_public.py
    path("f/", include("campaigns.urls_public")),
    path("leads/", include("leads.urls")),
    path("api/v1/", include("leadbridge.api_urls")),
    path("integrations/", include("integrations.urls")),
    path("privacy/", include("privacy.urls")),
    path("", include("followups.urls")),
    path("", include("reporting.urls")),
]

# Under /api/ these answer RFC 9457 problems; elsewhere Django's pages.
handler400 = "leadbridge.api.errors.bad_request"
handler500 = "leadbridge.api.errors.server_error"
