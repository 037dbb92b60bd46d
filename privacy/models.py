"""Data protection (DSGVO/GDPR): who asked for what about which person, and what is kept how long.

None of these rows holds the personal data itself: a person is named by a salted
hash of their normalised email (privacy.services.email_hash) or by lead ids, which
say nothing once the lead is anonymised.
"""

from django.conf import settings
from django.db import models
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _


class Suppression(models.Model):
    """An erased person's email, hashed: intake refuses it until a new lawful basis is given."""

    email_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("erased at"))

    class Meta:
        verbose_name = _("suppressed email")
        verbose_name_plural = _("suppressed emails")

    def __str__(self) -> str:
        return f"{self.email_hash[:12]}…"


class Trigger(models.TextChoices):
    REQUEST = "request", _("Request of the person")
    RETENTION = "retention", _("Retention period ended")


class ErasureLog(models.Model):
    """One erasure: who, when, why, and how many rows in each place (never the data)."""

    at = models.DateTimeField(_("when"))
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    trigger = models.CharField(_("trigger"), max_length=10, choices=Trigger)
    reason = models.TextField(_("reason"))
    subject_hash = models.CharField(_("email (hashed)"), max_length=64, blank=True)
    lead_ids = models.JSONField(_("leads"), default=list)
    counts = models.JSONField(_("rows anonymised per place"), default=dict)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("erasure")
        verbose_name_plural = _("erasures")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.get_trigger_display()} ({len(self.lead_ids)})"


class ErasedLead(models.Model):
    """Marks an anonymised lead: the unique lead makes every erasure of it happen once,
    and retention skips what is erased already."""

    lead = models.OneToOneField(
        "leads.Lead", on_delete=models.CASCADE, related_name="erasure", verbose_name=_("lead")
    )
    log = models.ForeignKey(ErasureLog, on_delete=models.PROTECT, related_name="leads")
    erased_at = models.DateTimeField(_("erased at"))

    class Meta:
        verbose_name = _("erased lead")
        verbose_name_plural = _("erased leads")

    def __str__(self) -> str:
        return f"lead {self.lead_id}"


class ExportLog(models.Model):
    """One access/portability export: who, when, about whom (hashed), which format."""

    class Format(models.TextChoices):
        JSON = "json", "JSON"
        HTML = "html", "HTML"

    at = models.DateTimeField(_("when"))
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    format = models.CharField(_("format"), max_length=4, choices=Format)
    subject_hash = models.CharField(_("email (hashed)"), max_length=64, blank=True)
    lead_ids = models.JSONField(_("leads"), default=list)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("data export")
        verbose_name_plural = _("data exports")

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.format} ({len(self.lead_ids)})"


class RetentionPolicy(models.Model):
    """How long a team keeps what it no longer works with; the row without a team is the
    default (without any row, the LEADBRIDGE_RETENTION_* settings apply)."""

    team = models.OneToOneField(
        "accounts.Team",
        verbose_name=_("team"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="retention",
        help_text=_("Empty: the default for teams without their own."),
    )
    closed_lead_months = models.PositiveSmallIntegerField(
        _("keep closed or never converted leads (months after the last activity)"),
        default=24,
        help_text=_(
            "Rejected, disqualified, unreachable, lost, and leads that never became "
            "prospects; then their personal data is anonymised."
        ),
    )
    import_file_days = models.PositiveSmallIntegerField(
        _("keep uploaded import files (days after the import)"), default=90
    )
    webhook_payload_days = models.PositiveSmallIntegerField(
        _("keep webhook bodies (days after the delivery ended)"), default=30
    )

    class Meta:
        verbose_name = _("retention policy")
        verbose_name_plural = _("retention policies")
        constraints = [
            # One default: NULLs are distinct to a plain unique index.
            models.UniqueConstraint(Coalesce("team", Value(0)), name="retention_one_per_team"),
        ]

    def __str__(self) -> str:
        return str(self.team or _("Default"))
