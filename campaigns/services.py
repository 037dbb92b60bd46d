"""Campaign planning, the handoff agreement with sales, intake helpers and campaign figures."""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDate
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.crypto import salted_hmac
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from accounts.models import Role, Team, User
from followups import figures
from followups.models import FollowUp, Notification, SlaPolicy
from followups.services import notify, team_leads
from leadbridge import outbox
from leads.models import Lead, LeadEvent, RejectReason, Stage

from .models import Campaign, Channel, InfoMaterial, MaterialEmail, OptInEmail

log = logging.getLogger(__name__)


class CampaignError(Exception):
    """A campaign action that is not allowed now; the message is for the user."""


# --- planning ---------------------------------------------------------------------

# Changing any of these changes what sales agreed to: the sign-off is withdrawn (also
# on an active campaign, which keeps running but needs the team lead's signature on
# the new plan) and the team lead signs again.
PLAN_FIELDS = ("channel", "starts_on", "ends_on", "expected_responses", "team", "sla_policy")


@transaction.atomic
def campaign_create(*, by: User, fields: dict, materials: list[InfoMaterial]) -> Campaign:
    fields = dict(fields)
    fields.setdefault("owner", by)
    campaign = Campaign(**fields, status=Campaign.Status.PLANNED)
    campaign.full_clean()
    campaign.save()
    campaign.materials.set(materials)
    return campaign


@transaction.atomic
def campaign_update(
    *,
    campaign: Campaign,
    by: User,
    fields: dict,
    materials: list[InfoMaterial] | None = None,
) -> tuple[Campaign, bool]:
    """Apply the edit (materials None: unchanged); returns (campaign, whether the
    sign-off was withdrawn). The web edit and the API's PUT/PATCH both come here."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    changed = {name for name, value in fields.items() if getattr(campaign, name) != value}
    for name, value in fields.items():
        setattr(campaign, name, value)
    withdrawn = campaign.is_signed_off and bool(changed & set(PLAN_FIELDS))
    if withdrawn:
        # The stored capacity check went with the plan it checked; marketing asks again.
        campaign.signed_off_at = None
        campaign.signed_off_by = None
        campaign.signoff_check = {}
        campaign.signoff_requested_at = None
        campaign.signoff_requested_by = None
    campaign.full_clean()
    campaign.save()
    if materials is not None:
        campaign.materials.set(materials)
    return campaign, withdrawn


# --- capacity: will the team cope? ------------------------------------------------------

# The arrival curve: how a campaign's expected responses spread over its working days.
#
# Responses arrive on the working days of the campaign's window (starts_on to ends_on;
# an open-ended campaign: four working weeks). Within the window the channel's curve
# gives each day its share:
# - even (webinar, website form, trade fair, phone, other): the same every working day,
#   so a 6-week webinar series brings a sixth of its leads per week, not all on day 1
#   (a one-day webinar, ends_on = starts_on, still brings them all on that day);
# - halving (newsletter, mailing): half on the first day, half of the rest each next day,
#   for at most two working weeks;
# - trickle (print ad, partner): 30, 20, 15, 10, 10, 5, 5, 5 % over eight working days.
# Whatever the curve would bring after the window's end arrives on its last day.
_HALVING = "halving"
_EVEN = "even"
_TRICKLE = [0.30, 0.20, 0.15, 0.10, 0.10, 0.05, 0.05, 0.05]
PROFILES: dict[str, list[float] | str] = {
    Channel.NEWSLETTER: _HALVING,
    Channel.MAILING: _HALVING,
    Channel.PRINT_AD: _TRICKLE,
    Channel.PARTNER: _TRICKLE,
}
HALVING_DAYS = 10
OPEN_ENDED_DAYS = 20  # a campaign without an end date: four working weeks
MAX_DAYS = 60


def _working_days(*, calendar, start: date, end: date | None, limit: int) -> list[date]:
    days, day = [], start
    while len(days) < limit and (end is None or day <= end):
        if calendar.is_working_day(day):
            days.append(day)
        day += timedelta(days=1)
    if not days:  # a one-day campaign on a Sunday: its responses land on the next working day
        days.append(calendar.next_working_day(start))
    return days


def _shares(channel: str, n_days: int) -> list[float]:
    """Each of the first n_days' share of the responses (summing to 1)."""
    profile = PROFILES.get(channel, _EVEN)
    if profile == _EVEN:
        return [1 / n_days] * n_days
    if profile == _HALVING:
        shares = [0.5 ** (i + 1) for i in range(n_days)]
    else:
        shares = list(profile[:n_days])
    shares[-1] += 1 - sum(shares)  # what would come after the window arrives on its last day
    return shares


def expected_per_day(*, total: int, shares: list[float]) -> list[int]:
    """Whole leads per day summing to total (largest remainder)."""
    raw = [total * s for s in shares]
    counts = [math.floor(r) for r in raw]
    rest = total - sum(counts)
    for index in sorted(range(len(raw)), key=lambda i: (counts[i] - raw[i], i))[:rest]:
        counts[index] += 1
    return counts


def campaign_days(*, campaign: Campaign, calendar) -> list[tuple[date, int]]:
    """The campaign's expected new leads per working day (the arrival curve above)."""
    profile = PROFILES.get(campaign.channel, _EVEN)
    if profile == _EVEN:
        limit = MAX_DAYS if campaign.ends_on else OPEN_ENDED_DAYS
    else:
        limit = HALVING_DAYS if profile == _HALVING else len(profile)
    days = _working_days(
        calendar=calendar, start=campaign.starts_on, end=campaign.ends_on, limit=limit
    )
    counts = expected_per_day(
        total=campaign.expected_responses, shares=_shares(campaign.channel, len(days))
    )
    return list(zip(days, counts, strict=True))


@dataclass
class DayLoad:
    day: date
    number: int  # working day 1, 2, … of the campaign
    expected: int  # this campaign's new leads
    capacity: int  # present reps × their daily capacity
    open_work: int  # the team's follow-ups already due that day (overdue ones on day 1)
    other_campaigns: int  # new leads expected from the team's other campaigns

    @property
    def free(self) -> int:
        return max(self.capacity - self.open_work - self.other_campaigns, 0)

    @property
    def overloaded(self) -> bool:
        return self.expected > self.free


@dataclass
class CapacityCheck:
    team: str
    reps_present: int
    reps_absent: int
    capacity: int
    days: list[DayLoad] = field(default_factory=list)

    @property
    def overloaded(self) -> bool:
        return any(day.overloaded for day in self.days)

    @property
    def peak(self) -> DayLoad | None:
        """The day that overshoots most (or, if none does, the busiest one)."""
        if not self.days:
            return None
        return max(self.days, key=lambda d: (d.expected - d.free, d.expected, -d.number))

    @property
    def expected_total(self) -> int:
        return sum(day.expected for day in self.days)

    @property
    def stagger_days(self) -> int | None:
        """Working days the peak needs at the peak day's free capacity (the staggered start)."""
        peak = self.peak
        if peak is None or not peak.overloaded or peak.free <= 0:
            return None
        return math.ceil(peak.expected / peak.free)

    def warning(self) -> str:
        peak = self.peak
        if peak is None or not self.overloaded:
            return ""
        text = _(
            "Expected %(expected)d new leads on day %(number)d (%(date)s), "
            "capacity %(free)d per day."
        ) % {
            "expected": peak.expected,
            "number": peak.number,
            "date": date_format(peak.day, "SHORT_DATE_FORMAT"),
            "free": peak.free,
        }
        if self.stagger_days:
            text += " " + _(
                "Stagger the start: release it in %(waves)d waves over %(waves)d working days "
                "(about %(per_day)d a day), or plan more reps."
            ) % {"waves": self.stagger_days, "per_day": peak.free}
        else:
            text += " " + _(
                "The team has no free capacity that day: move the start or choose another team."
            )
        return text

    def as_dict(self) -> dict:
        """The numbers, as Campaign.signoff_check keeps them. No warning text: that is
        rendered from the numbers in the reader's language (from_dict(...).warning())."""
        data = asdict(self)
        for day in data["days"]:
            day["day"] = day["day"].isoformat()
        data["overloaded"] = self.overloaded
        return data

    @classmethod
    def from_dict(cls, data: dict) -> CapacityCheck:
        """The check as_dict() stored (derived keys such as "overloaded" are recomputed)."""
        days = [DayLoad(**{**day, "day": date.fromisoformat(day["day"])}) for day in data["days"]]
        return cls(
            team=data["team"],
            reps_present=data["reps_present"],
            reps_absent=data["reps_absent"],
            capacity=data["capacity"],
            days=days,
        )


def capacity_check(*, campaign: Campaign, team: Team, today: date) -> CapacityCheck:
    """The campaign's expected new leads per working day against the team's free capacity.

    Capacity per day = present reps × their daily capacity, minus the team's send-material
    and call-back follow-ups due that day (everything overdue or due before the start
    counts on day 1) and the new leads the team's other signed-off or active campaigns
    expect that day. Absent reps count for nothing.
    """
    calendar = team.calendar()
    reps = User.objects.filter(team=team, role=Role.REP, is_active=True)
    present = list(reps.filter(is_absent=False).values_list("daily_capacity", flat=True))
    capacity = sum(present)
    check = CapacityCheck(
        team=team.name,
        reps_present=len(present),
        reps_absent=reps.filter(is_absent=True).count(),
        capacity=capacity,
    )
    plan = campaign_days(campaign=campaign, calendar=calendar)
    if not plan:
        return check
    days = [day for day, _n in plan]
    first, last = days[0], days[-1]
    tz = timezone.get_current_timezone()
    open_work: dict[date, int] = {}
    due = (
        FollowUp.objects.open()
        .filter(lead__team=team, kind__in=[FollowUp.Kind.MATERIAL, FollowUp.Kind.CALLBACK])
        .filter(
            due_at__lt=datetime.combine(last + timedelta(days=1), datetime.min.time(), tzinfo=tz)
        )
        .annotate(day=TruncDate("due_at", tzinfo=tz))
        .values("day")
        .annotate(n=Count("pk"))
    )
    for row in due:
        day = max(row["day"], first)
        open_work[day] = open_work.get(day, 0) + row["n"]
    others: dict[date, int] = {}
    overlapping = (
        Campaign.objects.filter(team=team)
        .exclude(pk=campaign.pk)
        .filter(
            Q(status=Campaign.Status.ACTIVE)
            | Q(status=Campaign.Status.PLANNED, signed_off_at__isnull=False)
        )
        .filter(starts_on__lte=last)
        .filter(Q(ends_on__isnull=True) | Q(ends_on__gte=min(first, campaign.starts_on)))
    )
    for other in overlapping:
        for day, n in campaign_days(campaign=other, calendar=calendar):
            if first <= day <= last and day >= today:
                others[day] = others.get(day, 0) + n
    # Work already overdue on the day the campaign starts lands on its first day too.
    check.days = [
        DayLoad(
            day=day,
            number=index + 1,
            expected=n,
            capacity=capacity,
            open_work=open_work.get(day, 0),
            other_campaigns=others.get(day, 0),
        )
        for index, (day, n) in enumerate(plan)
    ]
    return check


# --- the handoff agreement ------------------------------------------------------------


# Who may do what with a campaign: one rule per action, used by the campaign pages,
# the API and the services themselves (which check again under the row lock).


def _leads_team_of(user: User, campaign: Campaign) -> bool:
    """The user is the team lead of the team that follows the campaign up."""
    return user.is_manager and user.team_id is not None and campaign.team_id == user.team_id


def can_sign_off(user: User, campaign: Campaign, team: Team | None = None) -> bool:
    """An administrator any plan; a team lead only for their own team, and only a
    campaign no other team follows up (an active campaign of another team cannot be
    signed over to one's own). `team` None: for some team the user may choose."""
    if user.is_admin_role:
        return True
    if not (user.is_manager and user.team_id is not None):
        return False
    if campaign.team_id is not None and campaign.team_id != user.team_id:
        return False
    return team is None or team.pk == user.team_id


def can_request_sign_off(user: User, campaign: Campaign) -> bool:
    """Marketing (and administrators) ask for the signature of a planned, unsigned plan."""
    return (
        (user.is_marketing or user.is_admin_role)
        and campaign.status == Campaign.Status.PLANNED
        and not campaign.is_signed_off
    )


def can_activate(user: User, campaign: Campaign) -> bool:
    """Marketing launches campaigns (once sales signed off), as do administrators and
    the team lead of the campaign's own team."""
    return user.is_admin_role or user.is_marketing or _leads_team_of(user, campaign)


def can_override(user: User, campaign: Campaign) -> bool:
    """Who may launch the campaign without a sign-off: an administrator, or the team
    lead of the campaign's own team (never another team's)."""
    return user.is_admin_role or _leads_team_of(user, campaign)


@transaction.atomic
def campaign_sign_off(
    *,
    campaign: Campaign,
    by: User,
    team: Team,
    sla_policy: SlaPolicy | None,
    now: datetime,
    warning_seen: bool = False,
) -> Campaign:
    """A sales team lead agrees to follow up the campaign's leads under this plan.

    The capacity check the team lead saw is stored with the sign-off. Signing a plan
    that overloads the team needs `warning_seen`: nobody signs it by accident.
    """
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if not can_sign_off(by, campaign, team):
        raise CampaignError(
            _("Only the team lead of %(team)s can sign off this plan.") % {"team": team}
        )
    if campaign.status == Campaign.Status.ENDED:
        raise CampaignError(_("The campaign has ended."))
    check = capacity_check(campaign=campaign, team=team, today=timezone.localdate(now))
    if check.overloaded and not warning_seen:
        raise CampaignError(
            _("The plan overloads the team: confirm that you have seen the capacity warning.")
        )
    campaign.team = team
    campaign.sla_policy = sla_policy
    campaign.signed_off_by = by
    campaign.signed_off_at = now
    campaign.signoff_check = check.as_dict()
    asked_by = campaign.signoff_requested_by_id
    campaign.signoff_requested_at = None
    campaign.signoff_requested_by = None
    campaign.signoff_returned_at = None
    campaign.signoff_returned_by = None
    campaign.signoff_comment = ""
    campaign.save(update_fields=[*SIGNOFF_FIELDS, "team", "sla_policy", "signoff_check"])
    notify(
        recipient_ids=[asked_by or campaign.owner_id],
        kind=Notification.Kind.SIGNED_OFF,
        by=by,
        now=now,
        campaign=campaign,
    )
    return campaign


SIGNOFF_FIELDS = [
    "signed_off_by",
    "signed_off_at",
    "signoff_requested_at",
    "signoff_requested_by",
    "signoff_returned_at",
    "signoff_returned_by",
    "signoff_comment",
    "updated_at",
]


@transaction.atomic
def campaign_sign_off_request(*, campaign: Campaign, by: User, now: datetime) -> Campaign:
    """Marketing asks the team lead of the campaign's team to sign off its plan: the
    team lead gets a bell notification and an email."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if not can_request_sign_off(by, campaign):
        raise CampaignError(_("Only marketing asks for the sign-off of a planned, unsigned plan."))
    if campaign.team_id is None:
        raise CampaignError(_("Choose the team that follows up first (edit the campaign)."))
    campaign.signoff_requested_at = now
    campaign.signoff_requested_by = by
    campaign.signoff_returned_at = None
    campaign.signoff_returned_by = None
    campaign.signoff_comment = ""
    campaign.save(update_fields=SIGNOFF_FIELDS)
    notify(
        recipient_ids=team_leads(team_id=campaign.team_id),
        kind=Notification.Kind.SIGNOFF_REQUESTED,
        by=by,
        now=now,
        campaign=campaign,
    )
    return campaign


@transaction.atomic
def campaign_sign_off_return(
    *, campaign: Campaign, by: User, comment: str, now: datetime
) -> Campaign:
    """The team lead sends the plan back unsigned, with a comment for marketing (who is
    notified: bell and email; the comment stays on the campaign page)."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if not can_sign_off(by, campaign):
        raise CampaignError(_("Only the team lead of the campaign's team can send the plan back."))
    if campaign.status != Campaign.Status.PLANNED or campaign.is_signed_off:
        raise CampaignError(_("Only a planned, unsigned plan can be sent back."))
    comment = comment.strip()
    if not comment:
        raise CampaignError(_("Say what marketing should change."))
    asked_by = campaign.signoff_requested_by_id
    campaign.signoff_requested_at = None
    campaign.signoff_requested_by = None
    campaign.signoff_returned_at = now
    campaign.signoff_returned_by = by
    campaign.signoff_comment = comment
    campaign.save(update_fields=SIGNOFF_FIELDS)
    notify(
        recipient_ids=[asked_by or campaign.owner_id],
        kind=Notification.Kind.SIGNOFF_RETURNED,
        by=by,
        now=now,
        campaign=campaign,
        note=comment,
    )
    return campaign


@transaction.atomic
def campaign_activate(
    *, campaign: Campaign, by: User, now: datetime, override_reason: str = ""
) -> Campaign:
    """Launch the campaign. Without a sign-off only with a reason, by a team lead or an
    administrator; the reason, who and when stay on the campaign."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if not can_activate(by, campaign):
        raise CampaignError(_("Only marketing or the campaign's team lead activates it."))
    if campaign.status != Campaign.Status.PLANNED:
        raise CampaignError(_("Only a planned campaign can be activated."))
    reason = override_reason.strip()
    if not campaign.is_signed_off:
        if not reason:
            raise CampaignError(
                _(
                    "Sales has not signed off the follow-up plan yet. "
                    "A team lead signs it off first."
                )
            )
        if not can_override(by, campaign):
            raise CampaignError(
                _(
                    "Only the team lead of the campaign's team or an administrator "
                    "may activate without a sign-off."
                )
            )
        campaign.activation_override_reason = reason
    campaign.status = Campaign.Status.ACTIVE
    campaign.activated_at = now
    campaign.activated_by = by
    campaign.save(
        update_fields=[
            "status",
            "activated_at",
            "activated_by",
            "activation_override_reason",
            "updated_at",
        ]
    )
    return campaign


@transaction.atomic
def campaign_end(*, campaign: Campaign, by: User, now: datetime) -> Campaign:
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status == Campaign.Status.ENDED:
        raise CampaignError(_("The campaign has ended already."))
    campaign.status = Campaign.Status.ENDED
    if campaign.ends_on is None or campaign.ends_on > timezone.localdate(now):
        campaign.ends_on = max(timezone.localdate(now), campaign.starts_on)
    campaign.save(update_fields=["status", "ends_on", "updated_at"])
    return campaign


# --- intake -------------------------------------------------------------------------


def material_emails_send(*, now: datetime, batch_size: int = 100) -> int:
    """Send the pending material emails (the outbox material_dispatch writes), each at
    most once: rows are claimed (pending → sending) and committed before sending, so a
    doubled or retried task cannot send one twice; a worker killed between claim and
    send leaves the row in "sending" for a person to see and send again."""

    return _emails_drain(
        MaterialEmail,
        deliver=_material_email_send,
        related=("lead", "material"),
        now=now,
        batch_size=batch_size,
    )


def _emails_drain(model, *, deliver, related: tuple, now: datetime, batch_size: int) -> int:
    """Drain one of this app's email outboxes (MaterialEmail, OptInEmail: the same states
    and columns): `deliver(row)` sends one and returns "" or what went wrong."""

    def send(outgoing) -> dict:
        error = deliver(outgoing)
        return {
            "state": model.State.FAILED if error else model.State.SENT,
            "sent_at": None if error else now,
            "error": error,
        }

    return outbox.drain(
        model.objects,
        field="state",
        pending=model.State.PENDING,
        sending=model.State.SENDING,
        sent=model.State.SENT,
        size=batch_size,
        related=related,
        send=send,
    )


def _material_email_send(outgoing: MaterialEmail) -> str:
    """The digital material to the lead, attached when there is a file, else linked.
    Returns "" when sent, else what went wrong (kept on the row)."""
    from django.core.mail import EmailMessage

    lead, material = outgoing.lead, outgoing.material
    with translation.override("de" if lead.country in {"DE", "AT", "CH"} else "en"):
        lines = [
            _("Dear %(name)s,") % {"name": lead.contact_name},
            "",
            _("thank you for your interest. Here is the information you asked for."),
        ]
        if material is not None:
            lines += ["", material.title]
            if material.url:
                lines.append(material.url)
            if material.description:
                lines += ["", material.description]
        message = EmailMessage(
            subject=material.title if material else _("Your information material"),
            body="\n".join(lines),
            to=[outgoing.to],
        )
    try:
        if material is not None and material.file:
            message.attach_file(material.file.path)
        message.send()
    except Exception as exc:  # SMTP or a missing file: recorded on the row, not raised
        log.exception("material email %s: sending failed", outgoing.pk)
        return f"{type(exc).__name__}: {exc}"[:300]
    return ""


# --- double opt-in for marketing emails ------------------------------------------------

OPT_IN_SALT = "campaigns.marketing-opt-in"
# How long a confirmation link works (counted from when the email was written).
OPT_IN_MAX_AGE = timedelta(days=7)


def _email_mark(email: str) -> str:
    """Binds a link to the address it was sent to: one changed or erased since is not confirmed."""
    return salted_hmac(OPT_IN_SALT, email.strip().lower()).hexdigest()[:20]


def opt_in_token(*, lead: Lead) -> str:
    """The signed, timestamped token of a lead's confirmation link."""
    return signing.dumps({"lead": lead.pk, "email": _email_mark(lead.email)}, salt=OPT_IN_SALT)


def opt_in_url(*, lead: Lead, language: str) -> str:
    path = reverse("webform:opt_in", args=[opt_in_token(lead=lead)])
    return f"{settings.LEADBRIDGE_BASE_URL}{path}?lang={language}"


class OptInState:
    OPEN = "open"  # a valid link, not used yet
    CONFIRMED = "confirmed"  # used just now
    ALREADY = "already"  # used before: nothing changes
    EXPIRED = "expired"
    INVALID = "invalid"  # forged, garbled, or for an address the lead no longer has


def opt_in_lookup(*, token: str) -> tuple[str, Lead | None]:
    """What a confirmation link stands for, without changing anything (the page shown
    for GET: mail scanners open links, only the button confirms)."""
    try:
        data = signing.loads(token, salt=OPT_IN_SALT, max_age=OPT_IN_MAX_AGE)
        expired = False
    except signing.SignatureExpired:
        data, expired = signing.loads(token, salt=OPT_IN_SALT), True
    except signing.BadSignature:
        return OptInState.INVALID, None
    if not isinstance(data, dict) or not isinstance(data.get("lead"), int):
        return OptInState.INVALID, None
    lead = Lead.objects.filter(pk=data["lead"]).first()
    if (
        lead is None
        or lead.marketing_consent_requested_at is None
        or not lead.email
        or _email_mark(lead.email) != data.get("email")
    ):
        return OptInState.INVALID, None
    if lead.has_marketing_consent:
        return OptInState.ALREADY, lead
    return (OptInState.EXPIRED if expired else OptInState.OPEN), lead


def marketing_consent_confirm(*, token: str, now: datetime) -> tuple[str, Lead | None]:
    """The person clicked "confirm": record marketing_consent_confirmed_at, once.

    A guarded update decides (two clicks at once confirm once); a used link changes
    nothing, an expired one neither (the person asks again on the form).
    """
    state, lead = opt_in_lookup(token=token)
    if state != OptInState.OPEN:
        return state, lead
    with transaction.atomic():
        claimed = Lead.objects.filter(
            pk=lead.pk, marketing_consent_confirmed_at__isnull=True
        ).update(marketing_consent_confirmed_at=now, updated_at=now)
        if claimed != 1:
            return OptInState.ALREADY, lead
        LeadEvent.objects.create(
            lead=lead, kind=LeadEvent.Kind.MARKETING_CONFIRMED, at=now, data={}
        )
    lead.marketing_consent_confirmed_at = now
    return OptInState.CONFIRMED, lead


def opt_in_emails_send(*, now: datetime, batch_size: int = 100) -> int:
    """Send the pending opt-in emails, each at most once (claimed before sending, as
    material_emails_send does); the number sent."""

    return _emails_drain(
        OptInEmail,
        deliver=_opt_in_email_send,
        related=("lead", "lead__campaign"),
        now=now,
        batch_size=batch_size,
    )


def _opt_in_email_send(outgoing: OptInEmail) -> str:
    """The confirmation link, in the language the form was shown in. Returns "" when
    sent, else what went wrong (kept on the row)."""
    from django.core.mail import EmailMessage

    lead = outgoing.lead
    if not lead.email or lead.marketing_consent_requested_at is None:
        return "the lead has no email address or no marketing request (any more)"
    language = lead.consent_language or settings.LANGUAGE_CODE
    with translation.override(language):
        lines = [
            _("Dear %(name)s,") % {"name": lead.contact_name},
            "",
            _(
                "you asked on our form “%(form)s” to receive news and marketing emails "
                "from us. Please confirm this within %(days)d days by opening this link:"
            )
            % {"form": lead.campaign.name if lead.campaign else "", "days": OPT_IN_MAX_AGE.days},
            "",
            opt_in_url(lead=lead, language=language),
            "",
            _("If you did not ask for this, ignore this email: you will get no marketing emails."),
        ]
        message = EmailMessage(
            subject=_("Please confirm: news and marketing emails"),
            body="\n".join(lines),
            to=[lead.email],
        )
    try:
        message.send()
    except Exception as exc:  # SMTP down: recorded on the row, not raised
        log.exception("opt-in email %s: sending failed", outgoing.pk)
        return f"{type(exc).__name__}: {exc}"[:300]
    return ""


@dataclass
class Promise:
    """What the thank-you page tells the lead, from the follow-ups' deadlines."""

    material: str = ""
    material_sent_at: datetime | None = None  # emailed already
    material_by: datetime | None = None  # to be posted / sent by
    call_by: datetime | None = None
    call_estimated: bool = False  # counted from the planned dispatch, not booked yet


def _callback_after_material(*, lead: Lead, material: FollowUp, policy, calendar) -> datetime:
    """When the call-back is due if the material goes out at its deadline: the call-back
    material_dispatch books then, counted by the same code (followup_build)."""
    from followups.deadlines import followup_build

    printed = lead.requested_material is not None and lead.requested_material.is_printed
    return followup_build(
        lead=lead,
        kind=FollowUp.Kind.CALLBACK,
        rule="callback_after_postal" if printed else "callback_after_digital",
        policy=policy,
        starts_at=material.due_at,
        calendar=calendar,
    ).due_at


@dataclass
class PlannedDeadlines:
    """What one kind of lead of a campaign gets when it arrives now (the sign-off page)."""

    material: InfoMaterial | None
    wants_call: bool
    material_by: datetime | None  # None: no material asked for
    material_at_once: bool  # digital: emailed on arrival
    call_by: datetime
    decision_by: datetime | None


def plan_deadlines(
    *, campaign: Campaign, team: Team | None, sla_policy: SlaPolicy | None, now: datetime
) -> list[PlannedDeadlines]:
    """The deadlines a lead arriving `now` would get under this plan (team and policy),
    for each material the campaign offers and for a lead asking for none, computed by
    the intake's own code (followups.services.initial_followups)."""
    from followups.deadlines import calendar_for, initial_followups, sla_policy_for

    policy = sla_policy or sla_policy_for(lead=Lead(channel=campaign.channel))
    calendar = calendar_for(team=team)
    kinds = [(m, False) for m in campaign.materials.order_by("pk")] + [(None, False)]
    if campaign.channel == Channel.WEBSITE:
        kinds.append((None, True))  # a web enquiry asking for a call: its own, shorter rule
    planned = []
    for material, wants_call in kinds:
        lead = Lead(
            channel=campaign.channel,
            team=team,
            received_at=now,
            requests_material=material is not None,
            requested_material=material,
            wants_call=wants_call,
        )
        owed = {f.kind: f for f in initial_followups(lead=lead, policy=policy, calendar=calendar)}
        sent = owed.get(FollowUp.Kind.MATERIAL)
        callback = owed.get(FollowUp.Kind.CALLBACK)
        decision = owed.get(FollowUp.Kind.DECISION)
        planned.append(
            PlannedDeadlines(
                material=material,
                wants_call=wants_call,
                material_by=sent.due_at if sent else None,
                material_at_once=bool(sent and not material.is_printed and sent.due_at <= now),
                call_by=callback.due_at
                if callback
                else _callback_after_material(
                    lead=lead, material=sent, policy=policy, calendar=calendar
                ),
                decision_by=decision.due_at if decision else None,
            )
        )
    return planned


def intake_promise(*, lead: Lead) -> Promise:
    from followups.deadlines import calendar_for, sla_policy_for

    promise = Promise(material=lead.requested_material.title if lead.requested_material else "")
    followups = list(lead.followups.order_by("created_at", "pk"))
    material = next((f for f in followups if f.kind == FollowUp.Kind.MATERIAL), None)
    callback = next(
        (f for f in followups if f.kind == FollowUp.Kind.CALLBACK and f.completed_at is None), None
    )
    if material is not None:
        if material.completed_at and material.outcome == "emailed":
            promise.material_sent_at = material.completed_at
        else:
            promise.material_by = material.due_at
    if callback is not None:
        promise.call_by = callback.due_at
    elif material is not None and material.completed_at is None:
        # The call-back is booked when the material goes out; until then its deadline
        # follows from the policy, counted from the material's deadline.
        promise.call_by = _callback_after_material(
            lead=lead,
            material=material,
            policy=material.policy or sla_policy_for(lead=lead),
            calendar=calendar_for(team=lead.team),
        )
        promise.call_estimated = True
    return promise


# --- what became of the leads --------------------------------------------------------------


@dataclass
class CampaignFigures:
    counts: dict[str, int]
    per_day: list[tuple[date, int]]
    funnel: list[tuple[str, int]]
    reasons: list[tuple[str, int]]
    prospects: int
    converted: int
    budget: Decimal
    expected: int

    @property
    def cost_per_lead(self) -> Decimal | None:
        return (
            (self.budget / self.counts["leads"]).quantize(Decimal("0.01"))
            if self.counts["leads"]
            else None
        )

    @property
    def cost_per_prospect(self) -> Decimal | None:
        return (self.budget / self.prospects).quantize(Decimal("0.01")) if self.prospects else None

    @property
    def response_share(self) -> float | None:
        return self.counts["leads"] / self.expected if self.expected else None


PROSPECT_STAGES = [Stage.PROSPECT, Stage.PRESALES, Stage.SALE, Stage.AFTERSALES]


def campaign_figures(*, campaign: Campaign, now: datetime) -> CampaignFigures:
    """The campaign page's figures, with the dashboard's definitions (followups.figures)."""
    leads = Lead.objects.filter(campaign=campaign)
    tz = timezone.get_current_timezone()
    per_day = dict(
        leads.annotate(day=TruncDate("received_at", tzinfo=tz))
        .values("day")
        .annotate(n=Count("pk"))
        .values_list("day", "n")
    )
    series: list[tuple[date, int]] = []
    if per_day:
        start = min(min(per_day), campaign.starts_on)
        end = max(
            max(per_day), min(campaign.ends_on or timezone.localdate(now), timezone.localdate(now))
        )
        day = start
        while day <= end:
            series.append((day, per_day.get(day, 0)))
            day += timedelta(days=1)
    reasons = dict(
        leads.filter(decision="rejected")
        .values("decision_reason")
        .annotate(n=Count("pk"))
        .values_list("decision_reason", "n")
    )
    reason_rows = sorted(
        (
            (str(RejectReason(r).label) if r in RejectReason.values else (r or "—"), n)
            for r, n in reasons.items()
        ),
        key=lambda item: (-item[1], item[0]),
    )
    stages = leads.aggregate(
        prospects=Count("pk", filter=Q(stage__in=PROSPECT_STAGES)),
        converted=Count("pk", filter=Q(stage__in=[Stage.SALE, Stage.AFTERSALES])),
    )
    return CampaignFigures(
        counts=figures.handoff_counts(leads=leads, now=now),
        per_day=series,
        funnel=figures.funnel(leads=leads),
        reasons=reason_rows,
        prospects=stages["prospects"],
        converted=stages["converted"],
        budget=campaign.budget,
        expected=campaign.expected_responses,
    )


def material_state(lead: Lead, now: datetime) -> str:
    """One lead's material as the campaign page lists it: on time, late, overdue, not yet."""
    if not lead.requests_material:
        return ""
    if lead.material_sent_at is not None:
        return "on_time" if lead.material_on_time else "late"
    return "overdue" if getattr(lead, "material_overdue", False) else "pending"


def nurture_leads(*, user: User) -> QuerySet:
    """Leads sales rejected: back to marketing, with the reason, newest decision first."""
    return (
        Lead.objects.visible_to(user)
        .filter(decision="rejected")
        .select_related("campaign", "decided_by")
        .order_by("-decided_at", "-pk")
    )


def lead_deadlines(*, lead: Lead) -> list[FollowUp]:
    return list(lead.followups.filter(completed_at__isnull=True).order_by("due_at"))


def duplicate_hint(*, data: dict, user: User) -> Lead | None:
    """An earlier lead of the same person (email, else phone, else company and name)
    among the leads the user may see: others are not named to them."""
    from leads.models import dedup_key
    from leads.services import duplicate_of

    return duplicate_of(
        key=dedup_key(
            email=data.get("email", ""),
            phone=data.get("phone", ""),
            company=data.get("company", ""),
            name=data.get("contact_name", ""),
        ),
        user=user,
    )
