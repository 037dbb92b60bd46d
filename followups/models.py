from datetime import datetime, time, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models import Channel
from leadbridge.calendar import BusinessDuration, validate_business_duration
from leadbridge.lookups import InvalidatingQuerySet


def _duration_field(label, default, help_text=""):
    return models.CharField(
        label,
        max_length=8,
        default=default,
        validators=[validate_business_duration],
        help_text=help_text or _("Business time: 0, 30m, 4h or 2d."),
    )


class SlaPolicy(models.Model):
    """Follow-up deadlines for one channel (or the default when channel is empty).

    A campaign may point at its own policy instead. Deadlines are computed when a
    follow-up is created and stored on it: editing a policy changes new
    follow-ups only, until someone runs the admin action that recomputes.
    """

    name = models.CharField(_("name"), max_length=100)
    channel = models.CharField(
        _("channel"),
        max_length=20,
        choices=Channel,
        blank=True,
        help_text=_("Empty: the default policy for channels without their own."),
    )
    material_digital_due = _duration_field(_("digital material: send within"), "0")
    material_printed_due = _duration_field(_("printed material: dispatch within"), "1d")
    material_printed_overdue = _duration_field(_("printed material: overdue at"), "2d")
    callback_due = _duration_field(_("call-back from receipt (no material)"), "2d")
    callback_after_digital_due = _duration_field(_("call-back after digital material"), "2d")
    callback_after_postal_due = _duration_field(_("call-back after postal material"), "3d")
    web_call_due = _duration_field(_("web enquiry asking for a call"), "1h")
    decision_due = _duration_field(_("sales accept/reject within"), "1d")
    warn_before = _duration_field(_("warn this long before overdue"), "2h")
    escalate_after = _duration_field(_("tell the team lead this long after overdue"), "1d")
    reassign_after = models.CharField(
        _("reassign this long after the team lead was told"),
        max_length=8,
        default="1d",
        blank=True,
        validators=[validate_business_duration],
        help_text=_("Empty switches reassignment off."),
    )
    max_call_attempts = models.PositiveSmallIntegerField(
        _("call attempts before unreachable"), default=6
    )
    retry_after = _duration_field(_("next call attempt after no answer"), "4h")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Updates invalidate the process-local copies sla_policy_for keeps (leadbridge.lookups).
    objects = InvalidatingQuerySet.as_manager()

    class Meta:
        ordering = ["channel", "name"]
        verbose_name = _("SLA policy")
        verbose_name_plural = _("SLA policies")

    def __str__(self) -> str:
        return self.name

    def duration(self, field: str) -> BusinessDuration | None:
        value = getattr(self, field)
        return BusinessDuration.parse(value) if value else None


# The queue's sections, in page order. A row (a lead) sits in the section of its next
# due task, by that task's due time alone: past it is "Overdue" (whatever the SLA's grace,
# e.g. printed material's day between due and overdue), before midnight (local time)
# "Due today", later "Upcoming". One column, so the counts are a per-lead MIN(due_at).
QUEUE_SECTIONS = ("overdue", "today", "upcoming")


def queue_day(now: datetime) -> tuple[datetime, datetime]:
    """Start of today and of tomorrow in the site's time zone: the sections' boundaries."""
    today = timezone.localdate(now)
    start = timezone.make_aware(datetime.combine(today, time.min))
    return start, timezone.make_aware(datetime.combine(today + timedelta(days=1), time.min))


def queue_section_q(name: str, now: datetime, field: str = "due_at") -> Q:
    """The one definition of a queue section, on `field` (a due time, or a lead's first one);
    FollowUp.queue_section mirrors it per row."""
    tomorrow = queue_day(now)[1]
    return {
        "overdue": Q(**{f"{field}__lte": now}),
        "today": Q(**{f"{field}__gt": now, f"{field}__lt": tomorrow}),
        "upcoming": Q(**{f"{field}__gte": tomorrow}),
    }[name]


class FollowUpQuerySet(models.QuerySet):
    def open(self):
        return self.filter(completed_at__isnull=True)

    def in_section(self, name: str, now: datetime):
        return self.filter(queue_section_q(name, now))

    def overdue(self, now: datetime):
        return self.open().filter(overdue_at__lte=now)

    def for_rep(self, user):
        return self.filter(assignee=user)

    def visible_to(self, user):
        from leads.models import Lead

        return self.filter(lead__in=Lead.objects.visible_to(user))


class FollowUp(models.Model):
    """One thing sales owes a lead, with its deadlines in business time.

    starts_at is the anchor (receipt, or dispatch for a call-back after material).
    warn_at < overdue_at <= escalate_at <= reassign_at are precomputed so each
    sweep step is a plain indexed comparison with now.
    """

    class Kind(models.TextChoices):
        MATERIAL = "material", _("Send material")
        CALLBACK = "callback", _("Call back")
        NEXT_STEP = "next_step", _("Next step")
        DECISION = "decision", _("Accept or reject")

    class NextStep(models.TextChoices):
        VISIT = "visit", _("Visit")
        SAMPLE = "sample", _("Sample")
        OFFER = "offer", _("Offer")
        DEMO = "demo", _("Demo")

    # db_index=False: followup_lead_kind leads with lead_id.
    lead = models.ForeignKey(
        "leads.Lead", on_delete=models.CASCADE, related_name="followups", db_index=False
    )
    kind = models.CharField(_("kind"), max_length=10, choices=Kind)
    next_step = models.CharField(_("next step"), max_length=10, choices=NextStep, blank=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assignee"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="followups",
    )
    policy = models.ForeignKey(SlaPolicy, on_delete=models.SET_NULL, null=True, blank=True)
    # Which of the policy's durations set the deadline (followups.deadlines.RULES);
    # empty for a deadline agreed with the customer (next step).
    rule = models.CharField(max_length=30, blank=True)
    starts_at = models.DateTimeField(_("counted from"))
    warn_at = models.DateTimeField(_("warn at"))
    due_at = models.DateTimeField(_("due"))
    overdue_at = models.DateTimeField(_("overdue at"))
    escalate_at = models.DateTimeField(_("escalate at"))
    reassign_at = models.DateTimeField(_("reassign at"), null=True, blank=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    outcome = models.CharField(_("outcome"), max_length=30, blank=True)
    note = models.TextField(_("note"), blank=True)
    attempts = models.PositiveSmallIntegerField(_("call attempts"), default=0)
    warned_at = models.DateTimeField(null=True, blank=True)
    flagged_at = models.DateTimeField(_("flagged overdue at"), null=True, blank=True)
    escalation_level = models.PositiveSmallIntegerField(_("escalation level"), default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = FollowUpQuerySet.as_manager()

    class Meta:
        ordering = ["due_at", "id"]
        verbose_name = _("follow-up")
        verbose_name_plural = _("follow-ups")
        constraints = [
            models.CheckConstraint(
                condition=Q(escalation_level__lte=3), name="followup_escalation_level_max_3"
            ),
        ]
        indexes = [
            # The rep's queue: open follow-ups of one assignee by deadline.
            models.Index(
                fields=["assignee", "due_at", "id"],
                condition=Q(completed_at__isnull=True),
                name="followup_queue",
            ),
            # The team lead's queue: open follow-ups of a whole team by deadline
            # (walked in due_at order, the team checked per row, stopping at a page).
            models.Index(
                fields=["due_at", "id"],
                condition=Q(completed_at__isnull=True),
                name="followup_open_by_due",
            ),
            # The queue's one row per lead (followups.views): each lead's first open due
            # time (_counts) and "is there an earlier open task of this lead" (_heads).
            models.Index(
                fields=["lead", "due_at", "id"],
                include=["assignee"],
                condition=Q(completed_at__isnull=True),
                name="followup_open_by_lead",
            ),
            # "Overdue now" on the dashboards: the open follow-ups past their point.
            models.Index(
                fields=["overdue_at"],
                condition=Q(completed_at__isnull=True),
                name="followup_open_overdue",
            ),
            # Each sweep step reads exactly one of these (followups/services.py).
            models.Index(
                fields=["warn_at"],
                condition=Q(completed_at__isnull=True, warned_at__isnull=True),
                name="followup_sweep_warn",
            ),
            models.Index(
                fields=["overdue_at"],
                condition=Q(completed_at__isnull=True, escalation_level=0),
                name="followup_sweep_l1",
            ),
            models.Index(
                fields=["escalate_at"],
                condition=Q(completed_at__isnull=True, escalation_level=1),
                name="followup_sweep_l2",
            ),
            models.Index(
                fields=["reassign_at"],
                condition=Q(completed_at__isnull=True, escalation_level=2),
                name="followup_sweep_l3",
            ),
            models.Index(fields=["lead", "kind"], name="followup_lead_kind"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} – {self.lead}"

    def is_overdue(self, now: datetime) -> bool:
        return self.completed_at is None and self.overdue_at <= now

    def queue_section(self, now: datetime) -> str:
        """Which queue section this open task puts its lead in (queue_section_q, per row)."""
        if self.due_at <= now:
            return "overdue"
        return "today" if self.due_at < queue_day(now)[1] else "upcoming"

    def state(self, now: datetime) -> str:
        if self.completed_at is not None:
            return "done"
        return "overdue" if self.is_overdue(now) else "open"


class Escalation(models.Model):
    """One step of the ladder for one follow-up: the claim that makes it happen once.

    Level 0 is the due-soon warning, 1 overdue (tell the assignee), 2 tell the
    team lead, 3 reassign. The unique constraint is the last line of defence
    against two sweeps acting on the same step.
    """

    class Level(models.IntegerChoices):
        WARNING = 0, _("Due soon")
        OVERDUE = 1, _("Overdue – assignee told")
        MANAGER = 2, _("Escalated to team lead")
        REASSIGNED = 3, _("Reassigned")

    # No separate index: the unique (followup, level) index serves lookups by follow-up.
    # No foreign-key constraint either: checked per row, it cost the sweep about a third
    # of the bare UPDATE's time (docs/PERFORMANCE.md) and guards nothing here. The sweep
    # writes each row in the transaction that moves its follow-up, holding that row's
    # lock, so the follow-up exists; deleting one, the ORM deletes its escalations
    # (CASCADE is Django's, with or without the constraint).
    followup = models.ForeignKey(
        FollowUp,
        on_delete=models.CASCADE,
        related_name="escalations",
        db_index=False,
        db_constraint=False,
    )
    level = models.PositiveSmallIntegerField(choices=Level)
    at = models.DateTimeField()
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["followup", "level"], name="escalation_once_per_level")
        ]

    def __str__(self) -> str:
        return f"{self.get_level_display()} – {self.followup_id}"


class NotificationQuerySet(models.QuerySet):
    def unread(self):
        return self.filter(read_at__isnull=True)


class Notification(models.Model):
    """In-app message, and the claim for its email (sent at most once).

    Text is rendered when shown (subject_text), so each reader sees it in the
    language they use; the email goes out in the recipient's language.
    """

    class Kind(models.TextChoices):
        WARNING = "warning", _("Due soon")
        OVERDUE = "overdue", _("Overdue")
        ESCALATED = "escalated", _("Escalated to you")
        REASSIGNED_TO = "reassigned_to", _("Reassigned to you")
        REASSIGNED_FROM = "reassigned_from", _("Taken from you")
        SIGNOFF_REQUESTED = "signoff_requested", _("Sign-off requested")
        SIGNED_OFF = "signed_off", _("Follow-up plan signed off")
        SIGNOFF_RETURNED = "signoff_returned", _("Follow-up plan sent back")

    class EmailState(models.TextChoices):
        NONE = "none", _("No email")
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")
        FAILED = "failed", _("Failed")

    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=20, choices=Kind)
    # One notification per recipient and sweep batch: a rep with 40 newly overdue
    # follow-ups gets one message saying 40, not 40 messages. followup/lead are
    # set when it concerns exactly one.
    count = models.PositiveIntegerField(default=1)
    followup = models.ForeignKey(FollowUp, on_delete=models.CASCADE, null=True, blank=True)
    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, null=True, blank=True)
    followup_ids = models.JSONField(default=list, blank=True)
    # The sign-off notifications concern a campaign; `note` is the team lead's comment.
    campaign = models.ForeignKey(
        "campaigns.Campaign", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    # db_default: the sweep's set-based INSERT (services._claim_sql) names its own columns.
    note = models.TextField(blank=True, default="", db_default="")
    created_at = models.DateTimeField()
    read_at = models.DateTimeField(null=True, blank=True)
    email_state = models.CharField(max_length=10, choices=EmailState, default=EmailState.PENDING)
    emailed_at = models.DateTimeField(null=True, blank=True)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The bell: unread count per user.
            models.Index(
                fields=["recipient", "created_at"],
                condition=Q(read_at__isnull=True),
                name="notification_unread",
            ),
            # notification_emails_send: the pending ones, oldest first.
            models.Index(
                fields=["id"],
                condition=Q(email_state="pending"),
                name="notification_email_pending",
            ),
        ]

    def __str__(self) -> str:
        return self.subject_text()

    def subject_text(self) -> str:
        if self.campaign_id:
            return f"{self.get_kind_display()}: {self.campaign}"
        if self.count > 1 or not self.followup_id:
            return _("%(kind)s: %(count)d follow-ups") % {
                "kind": self.get_kind_display(),
                "count": self.count,
            }
        return f"{self.get_kind_display()}: {self.followup.get_kind_display()} – {self.lead}"


class DigestRun(models.Model):
    """Claims one digest per recipient, kind and day, so a doubled beat tick sends one email."""

    class Kind(models.TextChoices):
        DAILY = "daily", _("Daily follow-up digest")
        WEEKLY = "weekly", _("Weekly handoff summary")

    recipient = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    kind = models.CharField(max_length=10, choices=Kind, default=Kind.DAILY)
    day = models.DateField()
    sent_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "kind", "day"], name="digest_once_per_kind_and_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} digest for {self.recipient_id} on {self.day}"
