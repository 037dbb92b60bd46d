import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import translation
from django.utils.translation import gettext_lazy as _

from leadbridge.lookups import InvalidatingQuerySet


class Channel(models.TextChoices):
    TRADE_FAIR = "trade_fair", _("Trade fair")
    PRINT_AD = "print_ad", _("Print ad")
    NEWSLETTER = "newsletter", _("Newsletter")
    WEBINAR = "webinar", _("Webinar")
    WEBSITE = "website", _("Website form")
    MAILING = "mailing", _("Mailing")
    PARTNER = "partner", _("Partner")
    PHONE = "phone", _("Phone enquiry")
    OTHER = "other", _("Other")


class InfoMaterial(models.Model):
    class Kind(models.TextChoices):
        DIGITAL = "digital", _("Digital (sent by email)")
        PRINTED = "printed", _("Printed (sent by post)")

    title = models.CharField(_("title"), max_length=200)
    kind = models.CharField(_("kind"), max_length=10, choices=Kind, default=Kind.DIGITAL)
    file = models.FileField(_("file"), upload_to="materials/", blank=True)
    url = models.URLField(_("link"), blank=True)
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Updates invalidate the copies API intake keeps (leadbridge.lookups).
    objects = InvalidatingQuerySet.as_manager()

    class Meta:
        ordering = ["title"]
        verbose_name = _("info material")
        verbose_name_plural = _("info materials")

    def __str__(self) -> str:
        # The short word: the choice label already carries parentheses of its own.
        kind = _("printed") if self.is_printed else _("digital")
        return f"{self.title} ({kind})"

    @property
    def is_printed(self) -> bool:
        return self.kind == self.Kind.PRINTED


# What a public form asks for when its campaign sets no text of its own, in the form's
# language. (Kept out of the column's default: that was rendered once, in the language
# of whoever created the campaign, and showed English text on German forms.)
DEFAULT_CONSENT_TEXT = _("I agree that my details are used to send me the material and contact me.")
# The separate, optional box for marketing emails (double opt-in).
MARKETING_CONSENT_TEXT = _(
    "I'd like to receive news and marketing emails. I will get an email to confirm this "
    "and can unsubscribe at any time."
)


def _new_form_key() -> str:
    return secrets.token_urlsafe(12)


class Campaign(models.Model):
    class Status(models.TextChoices):
        PLANNED = "planned", _("Planned")
        ACTIVE = "active", _("Active")
        ENDED = "ended", _("Ended")

    name = models.CharField(_("name"), max_length=200)
    channel = models.CharField(_("channel"), max_length=20, choices=Channel)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.PROTECT,
        related_name="campaigns",
    )
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.PLANNED)
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"), null=True, blank=True)
    budget = models.DecimalField(_("budget (EUR)"), max_digits=12, decimal_places=2, default=0)
    expected_responses = models.PositiveIntegerField(_("expected responses"), default=0)
    materials = models.ManyToManyField(
        InfoMaterial, verbose_name=_("info material offered"), blank=True, related_name="campaigns"
    )
    hypothesis = models.TextField(_("hypothesis"), blank=True)
    # Handoff agreement: which team follows up, under which SLA policy, signed by whom.
    team = models.ForeignKey(
        "accounts.Team",
        verbose_name=_("follow-up team"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="campaigns",
    )
    sla_policy = models.ForeignKey(
        "followups.SlaPolicy",
        verbose_name=_("SLA policy override"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="campaigns",
        help_text=_("Leave empty to use the policy of the channel."),
    )
    signed_off_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    signed_off_at = models.DateTimeField(null=True, blank=True)
    # The step before the signature: marketing asks the team lead (who is notified),
    # who signs or sends the plan back with a comment (marketing is notified).
    signoff_requested_at = models.DateTimeField(null=True, blank=True)
    signoff_requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    signoff_returned_at = models.DateTimeField(null=True, blank=True)
    signoff_returned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    signoff_comment = models.TextField(_("comment of the team lead"), blank=True)
    # The capacity check the team lead saw when signing (campaigns.services.capacity_check),
    # kept as signed: the plan was agreed on these numbers.
    signoff_check = models.JSONField(default=dict, blank=True, editable=False)
    activated_at = models.DateTimeField(_("activated at"), null=True, blank=True)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("activated by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # Set only when someone activated the campaign without a sign-off (who and when: activated_*).
    activation_override_reason = models.TextField(
        _("reason for activating without sign-off"), blank=True
    )
    form_key = models.CharField(max_length=32, unique=True, default=_new_form_key, editable=False)
    consent_text = models.TextField(
        _("consent text (German)"),
        blank=True,
        help_text=_("Shown on the German form; empty shows the standard German text."),
    )
    consent_text_en = models.TextField(
        _("consent text (English)"),
        blank=True,
        help_text=_("Shown on the English form; empty shows the standard English text."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Updates invalidate the copies API intake keeps (leadbridge.lookups).
    objects = InvalidatingQuerySet.as_manager()

    class Meta:
        ordering = ["-starts_on", "name"]
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__isnull=True) | Q(ends_on__gte=models.F("starts_on")),
                name="campaign_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_signed_off(self) -> bool:
        return self.signed_off_at is not None

    @property
    def signoff_state(self) -> str:
        """Where the sign-off stands: "signed", "requested", "returned" or "open"."""
        if self.signed_off_at is not None:
            return "signed"
        if self.signoff_requested_at is not None:
            return "requested"
        if self.signoff_returned_at is not None:
            return "returned"
        return "open"

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE

    @property
    def accepts_leads(self) -> bool:
        """Intake (form, import, manual entry) needs a launched campaign: active, or ended
        (fair scans and late reply coupons still arrive after the end)."""
        return self.status in {self.Status.ACTIVE, self.Status.ENDED}

    def consent_text_for(self, language: str) -> str:
        """The consent text the form in `language` shows: the campaign's own text for
        that language, else the standard text translated into it (never the other
        language's text)."""
        own = self.consent_text_en if language.startswith("en") else self.consent_text
        if own.strip():
            return own
        with translation.override(language):
            return str(DEFAULT_CONSENT_TEXT)


class MaterialEmail(models.Model):
    """The outbox of digital material: written in the transaction that records the
    dispatch, sent by the worker once (claimed pending → sending before it goes out).

    The request, the web form and the import never wait on SMTP, an outage loses
    nothing (rows stay pending, or failed for a person to retry in the admin), and a
    retried task cannot send twice.
    """

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="material_emails")
    followup = models.ForeignKey(
        "followups.FollowUp", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    material = models.ForeignKey(InfoMaterial, on_delete=models.SET_NULL, null=True, blank=True)
    to = models.EmailField(_("to"))
    state = models.CharField(_("state"), max_length=10, choices=State, default=State.PENDING)
    created_at = models.DateTimeField(_("dispatched at"))
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("material email")
        verbose_name_plural = _("material emails")
        indexes = [
            # The worker's claim: only the few pending rows are in it.
            models.Index(
                fields=["id"], condition=Q(state="pending"), name="material_email_pending"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.to} ({self.get_state_display()})"


class OptInEmail(models.Model):
    """The outbox of double opt-in emails: one per lead that ticked the marketing box on
    the web form, written with the lead, sent once by the worker (outbox.drain), as
    MaterialEmail is. No address column: the worker reads the lead's, so the person's
    data stays in one place (and an erased lead's email is not sent).
    """

    class State(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    lead = models.OneToOneField("leads.Lead", on_delete=models.CASCADE, related_name="opt_in_email")
    state = models.CharField(_("state"), max_length=10, choices=State, default=State.PENDING)
    created_at = models.DateTimeField(_("asked at"))
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("opt-in email")
        verbose_name_plural = _("opt-in emails")
        indexes = [
            # The worker's claim: only the few pending rows are in it.
            models.Index(fields=["id"], condition=Q(state="pending"), name="opt_in_email_pending"),
        ]

    def __str__(self) -> str:
        return f"{self.lead_id} ({self.get_state_display()})"
