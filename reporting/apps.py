from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportingConfig(AppConfig):
    """The manager dashboard: reads leads, follow-ups and campaigns; no other app imports it."""

    name = "reporting"
    verbose_name = _("Reporting")
