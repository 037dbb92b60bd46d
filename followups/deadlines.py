"""Follow-ups' deadlines: the SLA policy and calendar of a lead, and its initial follow-ups.

The queue actions (followups.services) and the intake paths build follow-ups here.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import datetime, time, timedelta
from types import SimpleNamespace

from django.conf import settings

from accounts.models import Team
from campaigns.models import Channel
from leadbridge import lookups
from leadbridge.calendar import TZ, BusinessCalendar, BusinessDuration
from leads.models import Lead, LeadEvent

from .models import FollowUp, SlaPolicy

DEFAULT_CALENDAR_REGION = settings.LEADBRIDGE_DEFAULT_REGION

# --- policies and deadlines ---------------------------------------------------


def sla_policy_for(*, lead: Lead) -> SlaPolicy:
    """Campaign override, else the channel's policy, else the default one (created if missing)."""
    if lead.campaign_id and lead.campaign.sla_policy_id:
        return lead.campaign.sla_policy
    # Read for every lead received: kept per process (leadbridge.lookups).
    return lookups.intake.get(("sla-policy", lead.channel), lambda: _channel_policy(lead.channel))


def _channel_policy(channel: str) -> SlaPolicy:
    policies = {p.channel: p for p in SlaPolicy.objects.filter(channel__in=[channel, ""])}
    policy = policies.get(channel) or policies.get("")
    if policy is None:
        policy, _created = SlaPolicy.objects.get_or_create(
            channel="", defaults={"name": "Standard"}
        )
    return policy


def calendar_for(*, team: Team | None) -> BusinessCalendar:
    if team is None:
        return BusinessCalendar.for_region(DEFAULT_CALENDAR_REGION)
    return BusinessCalendar.for_region(team.region, team.opens_at, team.closes_at)


@dataclass
class Deadlines:
    warn_at: datetime
    due_at: datetime
    overdue_at: datetime
    escalate_at: datetime
    reassign_at: datetime | None


def deadlines_for(
    *,
    policy: SlaPolicy,
    calendar: BusinessCalendar,
    starts_at: datetime,
    due: BusinessDuration,
    overdue: BusinessDuration | None = None,
    due_at: datetime | None = None,
) -> Deadlines:
    """The ladder for one follow-up; `due_at` fixes the deadline (an agreed next-step date)."""
    due_at = due_at or calendar.add(starts_at, due)
    overdue_at = calendar.add(starts_at, overdue) if overdue else due_at
    overdue_at = max(overdue_at, due_at)
    warn_at = max(starts_at, calendar.subtract(overdue_at, policy.duration("warn_before")))
    escalate_at = calendar.add(overdue_at, policy.duration("escalate_after"))
    reassign = policy.duration("reassign_after")
    reassign_at = calendar.add(escalate_at, reassign) if reassign else None
    return Deadlines(warn_at, due_at, overdue_at, escalate_at, reassign_at)


# A follow-up's rule names the policy durations for (due, overdue); overdue
# defaults to due. Stored on the follow-up so recomputation knows its origin.
RULES: dict[str, tuple[str, str | None]] = {
    "material_digital": ("material_digital_due", None),
    "material_printed": ("material_printed_due", "material_printed_overdue"),
    "callback": ("callback_due", None),
    "web_call": ("web_call_due", None),
    "callback_after_digital": ("callback_after_digital_due", None),
    "callback_after_postal": ("callback_after_postal_due", None),
    "decision": ("decision_due", None),
}


def _set_deadlines(followup: FollowUp, *, policy: SlaPolicy, calendar: BusinessCalendar) -> None:
    """(Re)compute the stored ladder of a follow-up from its anchor and rule."""
    if followup.rule:
        due_field, overdue_field = RULES[followup.rule]
        deadlines = deadlines_for(
            policy=policy,
            calendar=calendar,
            starts_at=followup.starts_at,
            due=policy.duration(due_field),
            overdue=policy.duration(overdue_field) if overdue_field else None,
        )
    else:
        deadlines = deadlines_for(
            policy=policy,
            calendar=calendar,
            starts_at=followup.starts_at,
            due=None,
            due_at=followup.due_at,
        )
    for name, value in deadlines.__dict__.items():
        setattr(followup, name, value)


_LADDER = tuple(f.name for f in dataclass_fields(Deadlines))
_START = object()  # in a DeadlineShifts segment: the deadline is the start itself


class DeadlineShifts:
    """_set_deadlines for many follow-ups (a bulk intake): the same deadlines, fewer calendar steps.

    For starts within one working day's office hours, every step of a rule's
    ladder (days keep the clock time; hours and minutes move it) gives the same
    wall-clock offset from the start, except where a step runs into closed time
    (a closing, a night, a weekend, a holiday): there the offset only grows as
    the start gets later. So when two starts of one day have the same offsets,
    every start between them has them too, and takes them instead of five
    calendar steps; on a miss, probes towards the day's closing find how far the
    offsets hold. A start in closed time (night, weekend, holiday) counts from
    the next opening, or back from the last closing: starts with the same two
    share one ladder. Starts in a fold, or calendars whose hours come near the
    DST switches (before 04:00), are computed as usual.
    tests/followups/test_calendar.py compares this with _set_deadlines.
    """

    def __init__(self):
        # (calendar, policy, rule, local date) → (earliest start, latest start, offsets)
        self._segments: dict[tuple, tuple] = {}
        # (calendar, policy, rule, next opening, last closing) → ladder, for closed time
        self._closed_ladders: dict[tuple, tuple] = {}
        self._last: tuple | None = None

    def set(self, followup: FollowUp, *, policy: SlaPolicy, calendar: BusinessCalendar) -> None:
        start = followup.starts_at
        local, closed = self._where(start, calendar)
        if not (followup.rule and local.fold == 0 and calendar.opens_at >= _EARLIEST_OPENING):
            _set_deadlines(followup, policy=policy, calendar=calendar)
            return
        if closed is not None:
            self._closed(followup, start, closed, policy=policy, calendar=calendar)
            return
        key = (calendar, policy.pk, followup.rule, local.date())
        segment = self._segments.get(key)
        if segment is not None and segment[0] <= local <= segment[1]:
            values = followup.__dict__
            for name, offset in zip(_LADDER, segment[2], strict=True):
                if offset is _START:
                    values[name] = start
                elif offset is None:
                    values[name] = None
                else:
                    values[name] = local + offset
            # max(starts_at, …) as deadlines_for takes it (another zone compares instants).
            if segment[2][0] is not _START and values["warn_at"] <= start:
                values["warn_at"] = start
            return
        _set_deadlines(followup, policy=policy, calendar=calendar)
        offsets = _offsets(followup, start, local)
        if offsets is None:
            return

        # How far into the day these offsets hold: to the day's last moment, else as
        # far as 12 steps of bisection find; every start in between has them too.
        def same(moment: datetime) -> bool:
            probe = SimpleNamespace(rule=followup.rule, starts_at=moment, due_at=None)
            _set_deadlines(probe, policy=policy, calendar=calendar)
            return _offsets(probe, moment, moment) == offsets

        good = local
        bad = calendar.closing_on(local.date()) - _TICK
        if same(bad):
            good = bad
        else:
            for _step in range(12):
                middle = good + (bad - good) / 2
                if middle <= good:
                    break
                if same(middle):
                    good = middle
                else:
                    bad = middle
        self._segments[key] = (local, good, offsets)

    def _where(self, start: datetime, calendar: BusinessCalendar) -> tuple:
        """(local start, None in office hours else (next opening, last closing)).

        Kept for the last start asked about: a lead's follow-ups share it.
        """
        last = self._last
        if last is not None and last[0] is start and last[1] is calendar:
            return last[2]
        local = start.astimezone(TZ)
        clock = local.time()
        if calendar.opens_at <= clock < calendar.closes_at and calendar.is_working_day(
            local.date()
        ):
            where = (local, None)
        else:
            where = (local, (calendar.snap(start), calendar.snap_back(start)))
        self._last = (start, calendar, where)
        return where

    def _closed(self, followup, start, closed: tuple, *, policy, calendar) -> None:
        """A start in closed time: its ladder is that of every start with the same
        next opening and last closing, except where it is the start itself."""
        key = (calendar, policy.pk, followup.rule, *closed)
        ladder = self._closed_ladders.get(key)
        if ladder is None:
            _set_deadlines(followup, policy=policy, calendar=calendar)
            self._closed_ladders[key] = tuple(
                _START if getattr(followup, name) is start else getattr(followup, name)
                for name in _LADDER
            )
            return
        values = followup.__dict__
        for name, value in zip(_LADDER, ladder, strict=True):
            values[name] = start if value is _START else value
        if ladder[0] is not _START and values["warn_at"] <= start:
            values["warn_at"] = start


def _offsets(followup, start: datetime, local: datetime) -> tuple | None:
    """A ladder as wall-clock offsets from the local start (None: a shape not taken)."""
    offsets = []
    for name in _LADDER:
        value = getattr(followup, name)
        if value is start:
            offsets.append(_START)
        elif value is None:
            offsets.append(None)
        elif value.tzinfo is TZ and value.fold == 0:
            offsets.append(value - local)  # same zone object: wall-clock difference
        else:
            return None
    return tuple(offsets)


_TICK = timedelta(microseconds=1)
_EARLIEST_OPENING = time(4)


def followup_build(
    *,
    lead: Lead,
    kind: str,
    rule: str,
    policy: SlaPolicy,
    starts_at: datetime,
    due_at: datetime | None = None,
    calendar: BusinessCalendar | None = None,
    **extra,
) -> FollowUp:
    """An unsaved follow-up for the lead's owner with its deadlines computed."""
    followup = FollowUp(
        lead=lead,
        kind=kind,
        rule=rule,
        assignee_id=lead.owner_id,
        policy=policy,
        starts_at=starts_at,
        due_at=due_at,
        **extra,
    )
    _set_deadlines(followup, policy=policy, calendar=calendar or calendar_for(team=lead.team))
    return followup


def initial_followups(
    *, lead: Lead, policy: SlaPolicy, calendar: BusinessCalendar | None = None
) -> list[FollowUp]:
    """What the handoff contract owes a freshly received lead (unsaved).

    Material asked for → send-material; otherwise → call-back from receipt (the
    call-back after material is created when the material is dispatched). Every
    lead → sales accept/reject.
    """
    calendar = calendar or calendar_for(team=lead.team)
    owed = []
    if lead.requests_material:
        material = lead.requested_material
        printed = material is not None and material.is_printed
        owed.append((FollowUp.Kind.MATERIAL, "material_printed" if printed else "material_digital"))
    if lead.wants_call and lead.channel == Channel.WEBSITE:
        # Asked for a call on the website: within the hour, material or not.
        owed.append((FollowUp.Kind.CALLBACK, "web_call"))
    elif not lead.requests_material:
        owed.append((FollowUp.Kind.CALLBACK, "callback"))
    owed.append((FollowUp.Kind.DECISION, "decision"))
    return [
        followup_build(
            lead=lead,
            kind=kind,
            rule=rule,
            policy=policy,
            starts_at=lead.received_at,
            calendar=calendar,
        )
        for kind, rule in owed
    ]


def followup_created_entry(*, lead: Lead, followup: FollowUp, policy: SlaPolicy) -> LeadEvent:
    """The timeline entry for one of a lead's initial follow-ups (unsaved)."""
    return LeadEvent(
        lead=lead,
        followup=followup,
        kind=LeadEvent.Kind.FOLLOWUP_CREATED,
        at=lead.received_at,
        data={"kind": followup.kind, "due_at": followup.due_at.isoformat(), "policy": policy.name},
    )


def followups_create_for_lead(*, lead: Lead, timeline: list[LeadEvent] = ()) -> list[FollowUp]:
    """The initial follow-ups and their timeline entries, after `timeline` (one INSERT)."""
    policy = sla_policy_for(lead=lead)
    followups = FollowUp.objects.bulk_create(initial_followups(lead=lead, policy=policy))
    LeadEvent.objects.bulk_create(
        [
            *timeline,
            *(followup_created_entry(lead=lead, followup=f, policy=policy) for f in followups),
        ]
    )
    return followups
