import re
import unicodedata
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models import Channel

# The time of receipt an intake path (API single and bulk, import, manual entry) accepts;
# the web form takes the moment it is sent. Deadlines count from it in business time.
# Not before 2000: LeadBridge follows up enquiries, and one older than that is a typo
# (0355 for 2025) or a wrong column, not a lead; and before 1893 the zone database
# gives Berlin local mean time (+00:53:28), an offset no answer should carry.
RECEIVED_FLOOR = date(2000, 1, 1)
RECEIVED_FLOOR_AT = datetime.combine(RECEIVED_FLOOR, time.min, tzinfo=ZoneInfo(settings.TIME_ZONE))
# A sender's (or a scanner's) clock may run a little ahead of ours; beyond this, refused.
CLOCK_SKEW = timedelta(minutes=5)


def received_at_problem(moment: datetime, *, now: datetime) -> str | None:
    """Why an aware `moment` cannot be an enquiry's time of receipt: "future", "old", or None."""
    if moment > now + CLOCK_SKEW:
        return "future"
    if moment < RECEIVED_FLOOR_AT:
        return "old"
    return None


class Stage(models.TextChoices):
    """The funnel of PRODUCT.md, then its side exits."""

    LEAD = "lead", _("Lead")
    PROSPECT = "prospect", _("Prospect (Interessent)")
    PRESALES = "presales", _("Pre-Sales")
    SALE = "sale", _("Sale")
    AFTERSALES = "aftersales", _("After-Sales")
    REJECTED = "rejected", _("Rejected by sales")
    DISQUALIFIED = "disqualified", _("Disqualified")
    UNREACHABLE = "unreachable", _("Unreachable")
    LOST = "lost", _("Lost")


CLOSED_STAGES = {Stage.REJECTED, Stage.DISQUALIFIED, Stage.UNREACHABLE, Stage.LOST}


class Source(models.TextChoices):
    WEB_FORM = "web_form", _("Web form")
    IMPORT = "import", _("Import")
    API = "api", _("API")
    MANUAL = "manual", _("Manual entry")
    ADMIN = "admin", _("Admin")
    DEMO = "demo", _("Demo data")


class LawfulBasis(models.TextChoices):
    """Why the company may hold a lead's data (GDPR Art. 6(1)); every intake path names one."""

    CONSENT = "consent", _("Consent (Art. 6(1)(a) GDPR)")
    CONTRACT = "contract", _("Pre-contract enquiry (Art. 6(1)(b) GDPR)")
    LEGITIMATE_INTEREST = "legitimate_interest", _("Legitimate interest (Art. 6(1)(f) GDPR)")


def lawful_basis_record(fields: dict, *, source: str) -> dict:
    """The source and time of a new lead's lawful basis, from its fields (Lead attnames).

    One rule for every intake path (lead_receive, bulk API, import): the basis comes
    from where the lead came in, at the moment consent was given, else when the
    enquiry was received. Raises ValueError when the fields name no basis, or name
    consent without its time (Art. 7(1): consent must be demonstrable).
    """
    basis = fields.get("lawful_basis") or ""
    if basis not in LawfulBasis.values:
        raise ValueError(f"a new lead needs a lawful basis, not {basis!r}")
    if basis == LawfulBasis.CONSENT:
        if fields.get("consent_at") is None:
            raise ValueError("consent as the lawful basis needs the time it was given")
        at = fields["consent_at"]
    else:
        at = fields["received_at"]
    return {"lawful_basis_source": source, "lawful_basis_at": at}


class Decision(models.TextChoices):
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")


class RejectReason(models.TextChoices):
    NO_BUDGET = "no_budget", _("No budget")
    NO_NEED = "no_need", _("No need")
    WRONG_CONTACT = "wrong_contact", _("Wrong contact")
    COMPETITOR = "competitor", _("Competitor")
    DUPLICATE = "duplicate", _("Duplicate")
    SPAM = "spam", _("Spam")
    OTHER = "other", _("Other")


def postal_address_complete(*, street: str, postcode: str, city: str) -> bool:
    """Printed material can be posted: street, postcode and city are all given. The web
    form, manual entry and the import refuse printed material without them."""
    return all(part and part.strip() for part in (street, postcode, city))


def dedup_key(*, email: str = "", phone: str = "", company: str = "", name: str = "") -> str:
    """The identity used to find duplicates: email, else phone, else company + name."""
    email = (email or "").strip().lower()
    if email:
        return f"e:{email}"
    digits = re.sub(r"\D", "", phone or "")
    if digits.startswith("00"):
        digits = digits[2:]
    elif digits.startswith("0"):
        digits = "49" + digits[1:]  # a national German number
    if len(digits) >= 6:
        return f"p:{digits}"
    folded = unicodedata.normalize("NFKD", f"{company}|{name}".lower())
    folded = re.sub(r"[^a-z0-9|]", "", folded.encode("ascii", "ignore").decode())
    return f"n:{folded}"[:200]


class LeadQuerySet(models.QuerySet):
    def visible_to(self, user):
        """What a user may see: reps and team leads their team's, everyone else all."""
        if user.is_superuser or user.role in {"admin", "marketing"}:
            return self
        if user.team_id is None:
            return self.filter(owner=user)
        return self.filter(team_id=user.team_id)

    def open(self):
        return self.exclude(stage__in=CLOSED_STAGES)

    def with_marketing_consent(self):
        """Leads that may get marketing emails: consent confirmed by double opt-in.
        A ticked box whose confirmation link was never clicked is not consent."""
        return self.filter(marketing_consent_confirmed_at__isnull=False)

    def update(self, **kwargs):
        """As save() does through auto_now: updated_at moves with every write.

        It is the clock at the write, not the business time a service was given:
        GET /api/v1/leads/?updated_after= (leadbridge.api.pagination.SyncCursor) trusts a
        stamp to be read just before its transaction writes.
        """
        kwargs.setdefault("updated_at", timezone.now())
        return super().update(**kwargs)


class Lead(models.Model):
    campaign = models.ForeignKey(
        "campaigns.Campaign",
        verbose_name=_("campaign"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="leads",
        db_index=False,  # lead_campaign_received leads with campaign_id
    )
    channel = models.CharField(_("channel"), max_length=20, choices=Channel)
    source = models.CharField(_("source"), max_length=10, choices=Source, default=Source.MANUAL)
    external_id = models.CharField(_("external ID"), max_length=100, blank=True)

    company = models.CharField(_("company"), max_length=200, blank=True)
    contact_name = models.CharField(_("contact person"), max_length=200)
    email = models.EmailField(_("email"), blank=True)
    phone = models.CharField(_("phone"), max_length=50, blank=True)
    street = models.CharField(_("street"), max_length=200, blank=True)
    postcode = models.CharField(_("postcode"), max_length=10, blank=True)
    city = models.CharField(_("city"), max_length=100, blank=True)
    country = models.CharField(_("country"), max_length=2, default="DE")
    region = models.CharField(_("region"), max_length=10, blank=True)
    message = models.TextField(_("message"), blank=True)

    requests_material = models.BooleanField(_("requests material"), default=False)
    requested_material = models.ForeignKey(
        "campaigns.InfoMaterial",
        verbose_name=_("requested material"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="leads",
    )
    wants_call = models.BooleanField(_("wants a call"), default=False)
    consent_text = models.TextField(_("consent text"), blank=True)
    consent_at = models.DateTimeField(_("consent given at"), null=True, blank=True)
    # The language the consent text was shown in (web form, manual entry): with the
    # exact text above, what the person agreed to.
    consent_language = models.CharField(_("consent language"), max_length=10, blank=True)
    # GDPR Art. 6(1): why the company may hold this lead's data, where that was
    # recorded and when it arose (leads.models.lawful_basis_record). Empty only on
    # leads received before it was recorded.
    lawful_basis = models.CharField(
        _("lawful basis"), max_length=20, choices=LawfulBasis, blank=True
    )
    lawful_basis_source = models.CharField(
        _("lawful basis recorded by"), max_length=10, choices=Source, blank=True
    )
    lawful_basis_at = models.DateTimeField(_("lawful basis since"), null=True, blank=True)
    # Marketing emails need their own consent, confirmed by double opt-in: the box
    # ticked on the web form (text and time) and the click on the emailed link.
    marketing_consent_text = models.TextField(_("marketing consent text"), blank=True)
    marketing_consent_requested_at = models.DateTimeField(
        _("marketing consent asked for at"), null=True, blank=True
    )
    marketing_consent_confirmed_at = models.DateTimeField(
        _("marketing consent confirmed at"), null=True, blank=True
    )

    # When the enquiry reached the company; every SLA deadline counts from here,
    # not from created_at (when someone typed or imported it).
    received_at = models.DateTimeField(_("received at"))
    stage = models.CharField(_("stage"), max_length=15, choices=Stage, default=Stage.LEAD)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("owner"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="leads",
        db_index=False,  # lead_owner_stage and lead_owner_created lead with owner_id
    )
    team = models.ForeignKey(
        "accounts.Team",
        verbose_name=_("team"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="leads",
        db_index=False,  # lead_team_received leads with team_id
    )
    decision = models.CharField(_("sales decision"), max_length=10, choices=Decision, blank=True)
    decision_reason = models.CharField(_("reason"), max_length=20, choices=RejectReason, blank=True)
    decision_note = models.TextField(_("note"), blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # Handoff milestones, written once by the services that record them
    # (material_dispatch, call_log) so the dashboards aggregate plain columns
    # instead of re-deriving them from timelines. Minutes are business minutes
    # since received_at in the team's calendar.
    material_sent_at = models.DateTimeField(_("material sent at"), null=True, blank=True)
    material_minutes = models.PositiveIntegerField(null=True, blank=True, editable=False)
    material_on_time = models.BooleanField(null=True, blank=True, editable=False)
    first_contact_at = models.DateTimeField(_("first call attempt at"), null=True, blank=True)
    first_contact_minutes = models.PositiveIntegerField(null=True, blank=True, editable=False)
    reached_at = models.DateTimeField(_("first reached at"), null=True, blank=True)
    dedup_key = models.CharField(max_length=200, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = LeadQuerySet.as_manager()

    class Meta:
        ordering = ["-received_at"]
        verbose_name = _("lead")
        verbose_name_plural = _("leads")
        constraints = [
            # Idempotent intake: the same record from one campaign's source never
            # becomes two leads (API retries, re-imported files).
            models.UniqueConstraint(
                fields=["campaign", "external_id"],
                condition=~Q(external_id=""),
                name="lead_external_id_unique_per_campaign",
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "received_at"], name="lead_campaign_received"),
            models.Index(fields=["team", "received_at"], name="lead_team_received"),
            models.Index(fields=["owner", "stage"], name="lead_owner_stage"),
            # Routing: how many leads each rep got today (leads.intake.router).
            models.Index(fields=["owner", "created_at"], name="lead_owner_created"),
            # Duplicate checks look keys up by equality only: no second, LIKE-able copy
            # (varchar_pattern_ops) as db_index=True would add.
            models.Index(fields=["dedup_key"], name="lead_dedup_key"),
            # GET /api/v1/leads/?updated_after= (leadbridge.api.pagination.SyncCursor):
            # changes in (updated_at, id) order.
            models.Index(fields=["updated_at", "id"], name="lead_updated"),
            # GET /api/v1/leads/?email= : iexact is UPPER(email) = UPPER(%s) on PostgreSQL.
            models.Index(Upper("email"), name="lead_email_upper"),
        ]

    def __str__(self) -> str:
        return f"{self.company or '—'}: {self.contact_name}"

    def compute_dedup_key(self) -> str:
        return dedup_key(
            email=self.email, phone=self.phone, company=self.company, name=self.contact_name
        )

    @property
    def is_closed(self) -> bool:
        return self.stage in CLOSED_STAGES

    @property
    def has_marketing_consent(self) -> bool:
        """Only confirmed consent counts (double opt-in); see LeadQuerySet.with_marketing_consent."""
        return self.marketing_consent_confirmed_at is not None

    @property
    def marketing_consent_pending(self) -> bool:
        return self.marketing_consent_requested_at is not None and not self.has_marketing_consent


class LeadEvent(models.Model):
    """The lead's timeline: append-only. Services write it; nothing updates it."""

    class Kind(models.TextChoices):
        RECEIVED = "received", _("Received")
        ASSIGNED = "assigned", _("Assigned")
        FOLLOWUP_CREATED = "followup_created", _("Follow-up created")
        MATERIAL_SENT = "material_sent", _("Material sent")
        CALL_ATTEMPT = "call_attempt", _("Call attempt")
        QUALIFIED = "qualified", _("Qualified")
        ACCEPTED = "accepted", _("Accepted")
        REJECTED = "rejected", _("Rejected")
        STAGE_CHANGED = "stage_changed", _("Stage changed")
        NOTE = "note", _("Note")
        WARNING = "warning", _("Due soon")
        OVERDUE = "overdue", _("Overdue")
        ESCALATED = "escalated", _("Escalated")
        REASSIGNED = "reassigned", _("Reassigned")
        DEADLINES_RECOMPUTED = "recomputed", _("Deadlines recomputed")
        MARKETING_CONFIRMED = "marketing_ok", _("Marketing consent confirmed")
        EDITED = "edited", _("Contact details changed")

    # db_index=False: leadevent_lead_at leads with lead_id.
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="events", db_index=False)
    followup = models.ForeignKey(
        "followups.FollowUp", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    kind = models.CharField(max_length=20, choices=Kind)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    at = models.DateTimeField(_("when"))
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("timeline event")
        verbose_name_plural = _("timeline events")
        indexes = [models.Index(fields=["lead", "at"], name="leadevent_lead_at")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.get_kind_display()}"


def _import_upload_to(job: "ImportJob", filename: str) -> str:
    return f"imports/{job.campaign_id}/{filename}"


class ImportJob(models.Model):
    """One uploaded CSV/XLSX file of leads for a campaign, and how its import went.

    leads.imports reads the file for the mapping preview, then the Celery task
    imports it in chunks; each chunk commits together with these counters and
    its ImportIssue rows, so a restarted task resumes after `done`.
    """

    class Status(models.TextChoices):
        MAPPING = "mapping", _("Waiting for the column mapping")
        QUEUED = "queued", _("Queued")
        RUNNING = "running", _("Importing")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    class Duplicates(models.TextChoices):
        SKIP = "skip", _("Skip: keep the existing lead as it is")
        MERGE = "merge", _("Merge: fill the existing lead's empty fields")

    campaign = models.ForeignKey(
        "campaigns.Campaign",
        verbose_name=_("campaign"),
        on_delete=models.PROTECT,
        related_name="imports",
    )
    file = models.FileField(_("file"), upload_to=_import_upload_to)
    file_name = models.CharField(_("file name"), max_length=255)
    # sha256 of the bytes: the same file twice for one campaign is refused.
    file_hash = models.CharField(max_length=64, db_index=True, editable=False)
    file_format = models.CharField(max_length=10, editable=False)  # "csv" | "xlsx"
    encoding = models.CharField(max_length=20, blank=True, editable=False)
    delimiter = models.CharField(max_length=5, blank=True, editable=False)
    header = models.JSONField(default=list, blank=True, editable=False)
    # {target field: column index}, see leads.imports.TARGETS.
    mapping = models.JSONField(_("column mapping"), default=dict, blank=True)
    received_on = models.DateField(
        _("received on (whole file)"),
        null=True,
        blank=True,
        help_text=_("For rows without their own date, e.g. the last day of the fair."),
    )
    on_duplicate = models.CharField(
        _("known leads"), max_length=10, choices=Duplicates, default=Duplicates.SKIP
    )
    consent_all = models.BooleanField(_("every row gave consent"), default=False)
    # Chosen for the whole file when the mapping is confirmed; empty until then.
    lawful_basis = models.CharField(
        _("lawful basis"), max_length=20, choices=LawfulBasis, blank=True
    )
    material_all = models.BooleanField(_("every row asked for the material"), default=False)
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.MAPPING)
    total = models.PositiveIntegerField(_("rows"), default=0)
    done = models.PositiveIntegerField(_("rows processed"), default=0)
    created_count = models.PositiveIntegerField(_("leads created"), default=0)
    duplicate_count = models.PositiveIntegerField(_("known leads"), default=0)
    failed = models.PositiveIntegerField(_("rows with errors"), default=0)
    message = models.TextField(_("message"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("uploaded by"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("lead import")
        verbose_name_plural = _("lead imports")

    def __str__(self) -> str:
        return f"{self.file_name} → {self.campaign_id}"

    @property
    def is_finished(self) -> bool:
        return self.status in {self.Status.DONE, self.Status.FAILED}

    @property
    def percent(self) -> int:
        if self.is_finished:
            return 100
        return int(self.done * 100 / self.total) if self.total else 0


class ImportIssue(models.Model):
    """A row of an import that did not become a new lead, and why: the error report."""

    class Kind(models.TextChoices):
        ERROR = "error", _("Error: not imported")
        SKIPPED = "skipped", _("Known lead: skipped")
        MERGED = "merged", _("Known lead: merged")
        EXISTING = "existing", _("Imported before (same external ID)")

    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="issues")
    line = models.PositiveIntegerField(_("row"))  # as a spreadsheet counts: the header is row 1
    kind = models.CharField(max_length=10, choices=Kind)
    # [{"field": target or "", "code": leads.imports.REASONS key, "params": {...}}]: rendered
    # in the reader's language when the report is shown or downloaded.
    reasons = models.JSONField(default=list, blank=True)
    values = models.JSONField(default=list, blank=True)  # the row's cells as read
    lead = models.ForeignKey(
        Lead, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["job", "line", "id"]
        indexes = [models.Index(fields=["job", "line"], name="importissue_job_line")]

    def __str__(self) -> str:
        return f"{self.line}: {self.get_kind_display()}"
