"""Follow-up rules: creating follow-ups with deadlines, completing them, and the sweep."""

from __future__ import annotations

import logging
import threading
from collections import Counter, namedtuple
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from dataclasses import fields as dataclass_fields
from datetime import datetime, time, timedelta
from types import SimpleNamespace

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Q
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Role, Team, User
from campaigns.models import Channel, MaterialEmail
from integrations.models import Event
from integrations.services import (
    webhook_deliveries_for_overdue,
    webhook_followups_completed,
    webhook_lead_event,
)
from leadbridge import lookups, outbox
from leads.models import Lead, LeadEvent

from .calendar import TZ, BusinessCalendar, BusinessDuration
from .models import DigestRun, Escalation, FollowUp, Notification, SlaPolicy

log = logging.getLogger(__name__)

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


class FollowUpAlreadyDone(Exception):
    """Someone (a second click, a second rep) completed it first; nothing was changed."""

    def __init__(self, followup: FollowUp):
        super().__init__(f"follow-up {followup.pk} was already completed")
        self.followup = followup


def _close(
    *, followup: FollowUp, by: User | None, at: datetime, outcome: str, note: str = ""
) -> None:
    """The guarded update every completion goes through: it succeeds once."""
    done = FollowUp.objects.filter(pk=followup.pk, completed_at__isnull=True).update(
        completed_at=at, completed_by=by, outcome=outcome, note=note, updated_at=at
    )
    if done != 1:
        raise FollowUpAlreadyDone(followup)
    webhook_followups_completed(followup_ids=[followup.pk], now=at)
    followup.completed_at, followup.completed_by, followup.outcome, followup.note = (
        at,
        by,
        outcome,
        note,
    )


def followup_schedule(followup: FollowUp, *, by: User | None, at: datetime) -> FollowUp:
    """Save a new follow-up with its FOLLOWUP_CREATED timeline entry (the next step after a
    dispatch, a call or a qualification; leads.services.lead_qualify too)."""
    followup.save()
    LeadEvent.objects.create(
        lead=followup.lead,
        followup=followup,
        kind=LeadEvent.Kind.FOLLOWUP_CREATED,
        actor=by,
        at=at,
        data={"kind": followup.kind, "due_at": followup.due_at.isoformat()},
    )
    return followup


@transaction.atomic
def followup_complete(
    *, followup: FollowUp, by: User | None, at: datetime, outcome: str, note: str = ""
) -> None:
    """Close a follow-up once; a second click or a second rep gets FollowUpAlreadyDone."""
    _close(followup=followup, by=by, at=at, outcome=outcome, note=note)


@transaction.atomic
def material_dispatch(
    *, followup: FollowUp, by: User | None, at: datetime, postal: bool
) -> FollowUp:
    """Record the material as sent (emailing it when digital); the call-back clock starts now.

    Returns the call-back that follows: a new one counted from now, or the one
    already open (a web call request is not doubled).
    """
    if followup.kind != FollowUp.Kind.MATERIAL:
        raise ValueError(_("Only a send-material follow-up can be dispatched."))
    _close(followup=followup, by=by, at=at, outcome="posted" if postal else "emailed")
    lead = followup.lead
    LeadEvent.objects.create(
        lead=lead,
        followup=followup,
        kind=LeadEvent.Kind.MATERIAL_SENT,
        actor=by,
        at=at,
        data={"postal": postal, "material": str(lead.requested_material or "")},
    )
    _milestone(
        lead,
        "material_sent_at",
        at,
        minutes_field="material_minutes",
        material_on_time=at <= followup.overdue_at,
    )
    if not postal and lead.email:  # the worker sends it (campaigns.services.material_emails_send)
        MaterialEmail.objects.create(
            lead=lead,
            followup=followup,
            material_id=lead.requested_material_id,
            to=lead.email,
            created_at=at,
        )
    already_booked = FollowUp.objects.open().filter(lead=lead, kind=FollowUp.Kind.CALLBACK).first()
    if already_booked is not None:  # e.g. the web call request: one open call-back at a time
        return already_booked
    policy = followup.policy or sla_policy_for(lead=lead)
    return followup_schedule(
        followup_build(
            lead=lead,
            kind=FollowUp.Kind.CALLBACK,
            rule="callback_after_postal" if postal else "callback_after_digital",
            policy=policy,
            starts_at=at,
        ),
        by=by,
        at=at,
    )


class CallOutcome:
    REACHED = "reached"
    NO_ANSWER = "no_answer"
    WRONG_NUMBER = "wrong_number"
    CALL_LATER = "call_later"
    # Lazy: built at import time, shown later in each reader's language.
    CHOICES = [
        (REACHED, gettext_lazy("Reached")),
        (NO_ANSWER, gettext_lazy("No answer")),
        (WRONG_NUMBER, gettext_lazy("Wrong number")),
        (CALL_LATER, gettext_lazy("Call back later")),
    ]


@transaction.atomic
def call_log(
    *,
    followup: FollowUp,
    by: User | None,
    at: datetime,
    outcome: str,
    call_back_at: datetime | None = None,
    note: str = "",
) -> FollowUp | None:
    """Record a call attempt on a call-back and book what follows from it.

    reached → done; call later → done, a new call-back at the agreed time;
    no answer → done, the next attempt after the policy's retry time, until
    max_call_attempts, then the lead is unreachable; wrong number → unreachable.
    Returns the follow-up booked next, if any.
    """
    from leads.models import Stage

    if followup.kind != FollowUp.Kind.CALLBACK:
        raise ValueError(_("Calls are logged on call-back follow-ups."))
    if outcome == CallOutcome.CALL_LATER and (call_back_at is None or call_back_at <= at):
        raise ValueError(_("A call back later needs a time in the future."))
    _close(followup=followup, by=by, at=at, outcome=outcome, note=note)
    lead = followup.lead
    attempts = LeadEvent.objects.filter(lead=lead, kind=LeadEvent.Kind.CALL_ATTEMPT).count() + 1
    LeadEvent.objects.create(
        lead=lead,
        followup=followup,
        kind=LeadEvent.Kind.CALL_ATTEMPT,
        actor=by,
        at=at,
        data={
            "outcome": outcome,
            "attempt": attempts,
            "note": note,
            "call_back_at": call_back_at.isoformat() if call_back_at else None,
        },
    )
    FollowUp.objects.filter(pk=followup.pk).update(attempts=attempts)
    _milestone(lead, "first_contact_at", at, minutes_field="first_contact_minutes")
    if outcome == CallOutcome.REACHED:
        _milestone(lead, "reached_at", at)
    policy = followup.policy or sla_policy_for(lead=lead)
    unreachable = outcome == CallOutcome.WRONG_NUMBER or (
        outcome == CallOutcome.NO_ANSWER and attempts >= policy.max_call_attempts
    )
    if unreachable:
        lead_stage_set(lead=lead, stage=Stage.UNREACHABLE, by=by, at=at, reason=outcome)
        return None
    if outcome == CallOutcome.REACHED:
        return None
    if outcome == CallOutcome.NO_ANSWER:
        due_at = calendar_for(team=lead.team).add(at, policy.duration("retry_after"))
    else:
        due_at = call_back_at
    return followup_schedule(
        followup_build(
            lead=lead,
            kind=FollowUp.Kind.CALLBACK,
            rule="",
            policy=policy,
            starts_at=at,
            due_at=due_at,
        ),
        by=by,
        at=at,
    )


def _milestone(
    lead: Lead, field: str, at: datetime, *, minutes_field: str | None = None, **extra
) -> None:
    """Record a handoff milestone on the lead the first time only (dashboards read it)."""
    changes = {field: at, **extra}
    if minutes_field:
        minutes = calendar_for(team=lead.team).business_minutes_between(lead.received_at, at)
        changes[minutes_field] = max(minutes, 0)
    Lead.objects.filter(pk=lead.pk, **{f"{field}__isnull": True}).update(**changes)


def lead_stage_set(
    *, lead: Lead, stage: str, by: User | None, at: datetime, reason: str = ""
) -> None:
    """Move the lead; leaving the funnel closes what is still open for it.

    The one home of a stage change, inside the caller's transaction: the sales
    actions here and in leads.services (decide, qualify, move) call it."""
    from leads.models import CLOSED_STAGES

    old = lead.stage
    Lead.objects.filter(pk=lead.pk).update(stage=stage)
    lead.stage = stage
    # The funnel only moves forward: a lead enters each stage once, so (lead, stage) names it.
    webhook_lead_event(
        event=Event.LEAD_STAGE_CHANGED, lead=lead, now=at, subject=f"lead:{lead.pk}>{stage}"
    )
    LeadEvent.objects.create(
        lead=lead,
        kind=LeadEvent.Kind.STAGE_CHANGED,
        actor=by,
        at=at,
        data={"from": old, "to": stage, "reason": reason},
    )
    if stage in CLOSED_STAGES:
        FollowUp.objects.filter(lead=lead, completed_at__isnull=True).update(
            completed_at=at, completed_by=by, outcome=f"closed:{stage}", updated_at=at
        )


@transaction.atomic
def followups_recompute(*, policy: SlaPolicy, by: User | None, now: datetime) -> int:
    """Admin action: apply the policy's current durations to its open follow-ups, on purpose.

    Escalation steps already taken stay taken; only the stored deadlines move.
    """
    fields = ["warn_at", "due_at", "overdue_at", "escalate_at", "reassign_at", "updated_at"]
    changed = []
    events = []
    for followup in FollowUp.objects.open().filter(policy=policy).select_related("lead__team"):
        old_due = followup.due_at
        _set_deadlines(followup, policy=policy, calendar=calendar_for(team=followup.lead.team))
        followup.updated_at = now
        changed.append(followup)
        events.append(
            LeadEvent(
                lead=followup.lead,
                followup=followup,
                kind=LeadEvent.Kind.DEADLINES_RECOMPUTED,
                actor=by,
                at=now,
                data={
                    "from": old_due.isoformat(),
                    "to": followup.due_at.isoformat(),
                    "policy": policy.name,
                },
            )
        )
    FollowUp.objects.bulk_update(changed, fields, batch_size=500)
    LeadEvent.objects.bulk_create(events, batch_size=500)
    return len(changed)


# --- the sweep -----------------------------------------------------------------


@dataclass
class SweepReport:
    warned: int = 0
    overdue: int = 0
    escalated: int = 0
    reassigned: int = 0
    batches: int = 0
    unassignable: list[int] = field(default_factory=list)

    def add(self, other: SweepReport, *, batches: int) -> None:
        self.warned += other.warned
        self.overdue += other.overdue
        self.escalated += other.escalated
        self.reassigned += other.reassigned
        self.batches += batches
        self.unassignable.extend(other.unassignable)

    def __str__(self) -> str:
        return (
            f"warned {self.warned}, flagged overdue {self.overdue}, "
            f"escalated to team lead {self.escalated}, reassigned {self.reassigned} "
            f"in {self.batches} batches"
        )


# (level, deadline column, guard) for each step, in the order a sweep runs them.
# Each pair of (deadline, guard) matches one partial index on FollowUp.
_STEPS = (
    (Escalation.Level.WARNING, "warn_at", Q(warned_at__isnull=True)),
    (Escalation.Level.OVERDUE, "overdue_at", Q(escalation_level=0)),
    (Escalation.Level.MANAGER, "escalate_at", Q(escalation_level=1)),
    (Escalation.Level.REASSIGNED, "reassign_at", Q(escalation_level=2)),
)


def sweep_overdue(
    *, now: datetime, batch_size: int | None = None, workers: int | None = None
) -> SweepReport:
    """One pass over the escalation ladder; safe to run twice and on many workers.

    Steps, each in bounded batches, each batch one transaction:
    1. claim due rows, oldest deadline first, with FOR UPDATE SKIP LOCKED (on
       SQLite the IMMEDIATE transaction serialises writers instead);
    2. move them one rung with a guarded UPDATE (WHERE level = previous);
    3. insert one Escalation per (follow-up, level) — unique, so a step can
       never happen twice; it is also the step's entry on the lead's timeline;
    4. level 3 claims leads instead (_claim_leads: the lead, then its open
       follow-ups, all with SKIP LOCKED) and reassigns each once to the
       least-loaded available rep, taking all of its due follow-ups up the rung;
    5. one notification per recipient and kind for the batch.
    Emails go out afterwards from the notification rows (notification_emails_send).
    On PostgreSQL steps 1–3 of levels 0–2 are one statement (_claim_sql), which
    for levels 0 and 1 also writes the assignees' notifications (step 5);
    bench/sweep_bench.py sets it against a bare UPDATE of the same rows (most of
    the difference is the escalation row: docs/PERFORMANCE.md).

    A backlog (a first batch that came back full) is worked by `workers`
    connections at once (LEADBRIDGE_SWEEP_WORKERS; PostgreSQL, outside a
    transaction): each claims its own batches with SKIP LOCKED, exactly as two
    Celery workers sweeping at the same time would, so PostgreSQL writes on more
    than one core. All of them finish a rung before any starts the next, so one
    pass still moves a follow-up up every rung that is due.
    """
    batch_size = batch_size or settings.LEADBRIDGE_SWEEP_BATCH_SIZE
    workers = workers or settings.LEADBRIDGE_SWEEP_WORKERS
    parallel = workers > 1 and connection.vendor == "postgresql" and not connection.in_atomic_block
    report = SweepReport()
    lock = threading.Lock()

    def work(level: int, column: str, guard: Q, *, helper: bool) -> None:
        try:
            while True:
                part = SweepReport()
                moved = _sweep_batch(
                    level=level, column=column, guard=guard, now=now, size=batch_size, report=part
                )
                with lock:
                    report.add(part, batches=1 if moved else 0)
                if moved < batch_size:
                    return
        finally:
            if helper:
                connection.close()  # this thread's own connection

    # A first, smaller batch finds out whether there is a backlog at all; only then
    # do more connections join in (an idle tick opens none).
    probe = max(1, batch_size // 4) if parallel else batch_size
    for level, column, guard in _STEPS:
        first = SweepReport()
        moved = _sweep_batch(
            level=level, column=column, guard=guard, now=now, size=probe, report=first
        )
        report.add(first, batches=1 if moved else 0)
        if moved < probe:
            continue
        # Level 3 stays on one connection: it picks the least-loaded rep from counts
        # that a second connection's uncommitted reassignments would not show.
        if not parallel or level == Escalation.Level.REASSIGNED:
            work(level, column, guard, helper=False)
            continue
        with ThreadPoolExecutor(max_workers=workers - 1, thread_name_prefix="sweep") as pool:
            helpers = [
                pool.submit(work, level, column, guard, helper=True) for _ in range(workers - 1)
            ]
            work(level, column, guard, helper=False)
            for future in helpers:
                future.result()
    return report


_COUNTERS = {0: "warned", 1: "overdue", 2: "escalated", 3: "reassigned"}
_NOTIFY_KIND = {
    0: Notification.Kind.WARNING,
    1: Notification.Kind.OVERDUE,
    2: Notification.Kind.ESCALATED,
}
_Claimed = namedtuple("_Claimed", "pk lead_id assignee_id lead__team_id")
_LISTED = 100  # follow-up ids a notification lists; its count covers them all


@transaction.atomic
def _sweep_batch(
    *, level: int, column: str, guard: Q, now: datetime, size: int, report: SweepReport
) -> int:
    if connection.vendor == "postgresql" and level != Escalation.Level.REASSIGNED:
        rows = _claim_sql(level=level, column=column, now=now, size=size)
        new_owner = {}
        # At levels 0 and 1 the statement told the assignees, unless some follow-up had
        # none: then _notify tells everyone, so a team lead who is also an assignee
        # gets one notification for the batch, not two.
        told = level in _SQL_TELL_KIND and all(row.assignee_id is not None for row in rows)
        to_notify = [] if told else rows
    else:
        if level == Escalation.Level.REASSIGNED:
            rows = _claim_leads(now=now, size=size)
        else:
            rows = _claim_orm(level=level, column=column, guard=guard, now=now, size=size)
        if not rows:
            return 0
        new_owner = _reassign(rows=rows, now=now, report=report) if level == 3 else {}
        # The escalation row is the claim and the timeline entry at once (the lead
        # page shows it); the unique (followup, level) constraint forbids a second.
        Escalation.objects.bulk_create(
            [
                Escalation(
                    followup_id=row.pk,
                    level=level,
                    at=now,
                    data={"from": row.assignee_id, "to": new_owner[row.pk]} if level == 3 else {},
                )
                for row in rows
            ],
            batch_size=5000,
        )
        to_notify = rows
    if rows:
        _notify(level=level, rows=to_notify, new_owner=new_owner, now=now)
        if (
            level == Escalation.Level.OVERDUE
        ):  # integrations: followup.overdue webhooks, same transaction
            webhook_deliveries_for_overdue(followup_ids=[row.pk for row in rows], now=now)
        setattr(report, _COUNTERS[level], getattr(report, _COUNTERS[level]) + len(rows))
    return len(rows)


def _step_changes(level: int, now: datetime) -> dict:
    if level == Escalation.Level.WARNING:
        return {"warned_at": now, "updated_at": now}
    changes = {"escalation_level": level, "updated_at": now}
    if level == Escalation.Level.OVERDUE:
        # Also leave the warning index: an overdue follow-up needs no "due soon".
        changes.update(flagged_at=now, warned_at=Coalesce(F("warned_at"), now))
    return changes


def _claim_orm(*, level: int, column: str, guard: Q, now: datetime, size: int) -> list[_Claimed]:
    due = FollowUp.objects.filter(guard, completed_at__isnull=True, **{f"{column}__lte": now})
    if level == Escalation.Level.WARNING:
        due = due.filter(overdue_at__gt=now)  # past overdue: step 1 takes it instead
    # Walk the step's partial index oldest deadline first; SKIP LOCKED lets a
    # second sweeper take the next rows instead of waiting.
    rows = [
        _Claimed(*row)
        for row in due.order_by(column, "pk")
        .select_for_update(skip_locked=True, of=("self",))
        .values_list("pk", "lead_id", "assignee_id", "lead__team_id")[:size]
    ]
    ids = [row.pk for row in rows]
    moved = (
        FollowUp.objects.filter(guard, pk__in=ids).update(**_step_changes(level, now)) if ids else 0
    )
    if moved != len(ids):  # cannot happen under the row locks; roll back rather than guess
        raise RuntimeError(f"sweep claimed {len(ids)} follow-ups but moved {moved}")
    return rows


def _claim_leads(*, now: datetime, size: int) -> list[_Claimed]:
    """Level 3 claims leads, not follow-ups: a reassignment moves the lead and all its
    open follow-ups, so every due follow-up of a claimed lead takes the step with it
    (one REASSIGNED per lead and step, however its follow-ups fall into batches).

    Lock order, the same for every sweep: the leads (pk order), then their open
    follow-ups. Both with SKIP LOCKED, so a sweep never waits for a row and two
    sweeps cannot deadlock; a lead with a follow-up locked elsewhere (another
    sweep's batch, a rep completing it) is left for the next tick.
    """
    due = FollowUp.objects.filter(
        completed_at__isnull=True,
        escalation_level=Escalation.Level.MANAGER,
        reassign_at__lte=now,
    )
    candidates = due.order_by("reassign_at", "pk").values_list("lead_id", flat=True)[:size]
    teams = dict(
        Lead.objects.filter(pk__in=list(dict.fromkeys(candidates)))
        .order_by("pk")
        .select_for_update(skip_locked=True, no_key=True)  # intake's FK checks still pass
        .values_list("pk", "team_id")
    )
    open_followups = FollowUp.objects.filter(lead_id__in=list(teams), completed_at__isnull=True)
    locked = list(
        open_followups.order_by("pk")
        .select_for_update(skip_locked=True)
        .values_list("pk", "lead_id", "assignee_id", "escalation_level", "reassign_at")
    )
    # Read after the locks: a lead another sweep reassigned meanwhile has nothing due.
    expected = Counter(open_followups.values_list("lead_id", flat=True))
    got = Counter(lead_id for _pk, lead_id, *_rest in locked)
    rows = [
        _Claimed(pk, lead_id, assignee_id, teams[lead_id])
        for pk, lead_id, assignee_id, level, reassign_at in locked
        if got[lead_id] == expected[lead_id]
        and level == Escalation.Level.MANAGER
        and reassign_at <= now
    ]
    rows.sort(key=lambda row: (row.lead_id, row.pk))
    ids = [row.pk for row in rows]
    moved = FollowUp.objects.filter(pk__in=ids, escalation_level=Escalation.Level.MANAGER).update(
        **_step_changes(Escalation.Level.REASSIGNED, now)
    )
    if moved != len(ids):  # cannot happen under the row locks; roll back rather than guess
        raise RuntimeError(f"sweep claimed {len(ids)} follow-ups but moved {moved}")
    return rows


# The same claim, flag and escalation insert as _claim_orm + bulk_create, in one
# PostgreSQL statement: no ids travel to Python and back. Guards as in _STEPS.
_SQL_STEP = {
    0: ("warned_at IS NULL AND overdue_at > %(now)s", "warned_at = %(now)s"),
    1: (
        "escalation_level = 0",
        "escalation_level = 1, flagged_at = %(now)s, warned_at = COALESCE(f.warned_at, %(now)s)",
    ),
    2: ("escalation_level = 1", "escalation_level = 2"),
}


def _claim_sql(*, level: int, column: str, now: datetime, size: int) -> list[_Claimed]:
    guard, changes = _SQL_STEP[level]
    sql = f"""
        -- The locked rows are found again by their physical address (a TID scan),
        -- not by a second walk down the primary key: locking does not move a row.
        -- As an array, not a join: joined, a batch of some thousand rows makes the
        -- planner hash the whole table instead.
        WITH claimed AS (
            SELECT ctid AS tid FROM {FollowUp._meta.db_table}
            WHERE completed_at IS NULL AND {guard} AND {column} <= %(now)s
            ORDER BY {column}, id
            LIMIT %(size)s
            FOR UPDATE SKIP LOCKED
        ), moved AS (
            UPDATE {FollowUp._meta.db_table} AS f SET {changes}, updated_at = %(now)s
            WHERE f.ctid = ANY(ARRAY(SELECT tid FROM claimed))
            RETURNING f.id, f.lead_id, f.assignee_id, f.{column} AS deadline
        ), escalated AS (
            INSERT INTO {Escalation._meta.db_table} (followup_id, level, at, data)
            SELECT id, %(level)s, %(now)s, '{{}}'::jsonb FROM moved
        ){_SQL_TELL_ASSIGNEES if level in _SQL_TELL_KIND else ""}
        -- The team only matters where the team lead is told (level 2, or nobody
        -- is assigned): looked up for those rows alone, and as a correlated
        -- lookup, not a join, which tempts the planner into hashing all leads.
        SELECT id, lead_id, assignee_id,
               CASE WHEN {"TRUE" if level == 2 else "assignee_id IS NULL"} THEN
                   (SELECT team_id FROM {Lead._meta.db_table} AS lead WHERE lead.id = moved.lead_id)
               END
        FROM moved
    """
    params = {"now": now, "size": size, "level": level, "kind": _SQL_TELL_KIND.get(level)}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [_Claimed(*row) for row in cursor.fetchall()]


# Levels 0 and 1 tell the assignee: one notification per assignee for the batch,
# written by the claim statement itself as _notify writes them (the follow-up and
# lead named when it concerns just one, the first _LISTED in the claim's order) —
# when every follow-up it moved has an assignee; otherwise _notify does it all.
_SQL_TELL_KIND = {level: _NOTIFY_KIND[level].value for level in (0, 1)}
_SQL_TELL_ASSIGNEES = f""", told AS (
            INSERT INTO {Notification._meta.db_table}
                (recipient_id, kind, count, followup_id, lead_id, followup_ids, created_at, email_state)
            SELECT assignee_id, %(kind)s, count(*),
                   CASE WHEN count(*) = 1 THEN min(id) END,
                   CASE WHEN count(*) = 1 THEN min(lead_id) END,
                   to_jsonb((array_agg(id ORDER BY deadline, id))[1:{_LISTED}]),
                   %(now)s, '{Notification.EmailState.PENDING.value}'
            FROM moved
            WHERE NOT EXISTS (SELECT 1 FROM moved AS unassigned WHERE unassigned.assignee_id IS NULL)
            GROUP BY assignee_id
        )"""


def _notify(*, level: int, rows: list, new_owner: dict, now: datetime) -> None:
    """One notification per recipient and kind for this batch, naming the follow-up if just one."""
    needs_managers = level == 2 or any(row.assignee_id is None for row in rows)
    managers = _managers_by_team({row.lead__team_id for row in rows}) if needs_managers else {}
    grouped: dict[tuple[int, str], list] = {}
    for row in rows:
        for recipient_id, kind in _recipients(level, row, new_owner.get(row.pk), managers):
            grouped.setdefault((recipient_id, kind), []).append(row)
    Notification.objects.bulk_create(
        Notification(
            recipient_id=recipient_id,
            kind=kind,
            count=len(items),
            followup_id=items[0].pk if len(items) == 1 else None,
            lead_id=items[0].lead_id if len(items) == 1 else None,
            followup_ids=[row.pk for row in items[:_LISTED]],
            created_at=now,
        )
        for (recipient_id, kind), items in grouped.items()
    )


def _recipients(level: int, row, new_assignee: int | None, managers: dict) -> list[tuple[int, str]]:
    team_managers = managers.get(row.lead__team_id, [])
    assignee = row.assignee_id
    if level == 3:
        if new_assignee is None:
            # Nobody free to take it: the team lead was told at level 2 already;
            # the escalation row records that reassignment failed.
            return []
        pairs = [(new_assignee, Notification.Kind.REASSIGNED_TO)]
        if assignee and assignee != new_assignee:
            pairs.append((assignee, Notification.Kind.REASSIGNED_FROM))
        return pairs
    if level == 2 or assignee is None:
        return [(m, _NOTIFY_KIND[level]) for m in team_managers if m != assignee] or (
            [(assignee, _NOTIFY_KIND[level])] if assignee else []
        )
    return [(assignee, _NOTIFY_KIND[level])]


def _managers_by_team(team_ids: set[int | None]) -> dict[int | None, list[int]]:
    """Team leads per team; admins stand in for leads without a team or a lead."""
    admins = list(
        User.objects.filter(Q(role=Role.ADMIN) | Q(is_superuser=True), is_active=True)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    result: dict[int | None, list[int]] = {team_id: [] for team_id in team_ids}
    for pk, team_id in User.objects.filter(
        role=Role.MANAGER, team_id__in=[t for t in team_ids if t], is_active=True
    ).values_list("pk", "team_id"):
        result[team_id].append(pk)
    return {team_id: pks or admins for team_id, pks in result.items()}


def _reassign(*, rows: list, now: datetime, report: SweepReport) -> dict[int, int | None]:
    """Level 3: move each lead (owner and open follow-ups) to its team's least-loaded rep."""
    team_ids = {row.lead__team_id for row in rows if row.lead__team_id}
    loads = rep_loads(team_ids=team_ids)
    names = {
        user.pk: str(user) for user in User.objects.filter(team_id__in=team_ids, role=Role.REP)
    }
    chosen: dict[int, int | None] = {}
    events = []
    moved: dict[int, int] = {}  # lead -> new owner: a lead with two due follow-ups moves once
    for row in rows:
        if row.lead_id in moved:
            chosen[row.pk] = moved[row.lead_id]
            continue
        candidates = {
            rep: load
            for rep, load in loads.get(row.lead__team_id, {}).items()
            if rep != row.assignee_id
        }
        if not candidates:
            chosen[row.pk] = None
            report.unassignable.append(row.pk)
            continue
        rep = min(candidates, key=lambda pk: (candidates[pk], pk))
        loads[row.lead__team_id][rep] += 1
        chosen[row.pk] = moved[row.lead_id] = rep
        Lead.objects.filter(pk=row.lead_id).update(owner_id=rep)  # stamps updated_at
        FollowUp.objects.filter(lead_id=row.lead_id, completed_at__isnull=True).update(
            assignee_id=rep, updated_at=now
        )
        events.append(
            LeadEvent(
                lead_id=row.lead_id,
                followup_id=row.pk,
                kind=LeadEvent.Kind.REASSIGNED,
                at=now,
                data={
                    "from": row.assignee_id,
                    "to": rep,
                    "to_name": names.get(rep, ""),
                    "by": "escalation",
                },
            )
        )
    LeadEvent.objects.bulk_create(events)
    return chosen


def rep_loads(*, team_ids: set[int]) -> dict[int, dict[int, int]]:
    """Open follow-ups per available (active, present) rep, per team."""
    reps = User.objects.filter(
        team_id__in=team_ids, role=Role.REP, is_active=True, is_absent=False
    ).annotate(load=Count("followups", filter=Q(followups__completed_at__isnull=True)))
    loads: dict[int, dict[int, int]] = {team_id: {} for team_id in team_ids}
    for rep in reps.values("pk", "team_id", "load"):
        loads[rep["team_id"]][rep["pk"]] = rep["load"]
    return loads


# --- notifications ---------------------------------------------------------------


def notification_emails_send(*, now: datetime, batch_size: int = 200) -> int:
    """Email pending notifications, each at most once.

    A row is claimed (pending → sending) and committed before the email goes out,
    so a retried or doubled task cannot send it again; a worker killed between
    claim and send leaves it in "sending" for a person to see, never resent.
    """

    def send(notification: Notification) -> dict:
        state = _email_one(notification)
        return {
            "email_state": state,
            "emailed_at": now if state == Notification.EmailState.SENT else None,
        }

    return outbox.drain(
        Notification.objects,
        field="email_state",
        pending=Notification.EmailState.PENDING,
        sending=Notification.EmailState.SENDING,
        sent=Notification.EmailState.SENT,
        size=batch_size,
        related=("recipient", "followup", "lead"),
        send=send,
    )


def _email_one(notification: Notification) -> str:
    recipient = notification.recipient
    if not recipient.email:
        return Notification.EmailState.NONE
    items = FollowUp.objects.filter(pk__in=notification.followup_ids).select_related("lead")
    with translation.override(recipient.language):
        subject = notification.subject_text()
        lines = [subject, ""]
        for item in items.order_by("due_at"):
            due = timezone.localtime(item.due_at).strftime("%d.%m.%Y %H:%M")
            lines.append(f"- {item.get_kind_display()} · {item.lead} · {_('due')} {due}")
            lines.append(f"  {settings.LEADBRIDGE_BASE_URL}/leads/{item.lead_id}/")
        if notification.count > len(notification.followup_ids):
            lines.append(
                _("… and %(n)d more in your queue.")
                % {"n": notification.count - len(notification.followup_ids)}
            )
    try:
        send_mail(f"[LeadBridge] {subject}", "\n".join(lines), None, [recipient.email])
    except Exception:  # SMTP trouble must not block the queue; the row says failed
        log.exception("notification %s: email failed", notification.pk)
        return Notification.EmailState.FAILED
    return Notification.EmailState.SENT


def notifications_mark_read(*, user: User, now: datetime, ids: list[int] | None = None) -> int:
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=now)


def daily_digest_send(*, now: datetime) -> int:
    """One email per rep and day: what is overdue and what is due today."""
    today = timezone.localdate(now)
    end_of_day = timezone.make_aware(timezone.datetime.combine(today, timezone.datetime.max.time()))
    sent = 0
    reps = User.objects.filter(role=Role.REP, is_active=True, is_absent=False).exclude(email="")
    for rep in reps:
        open_items = FollowUp.objects.open().filter(assignee=rep).select_related("lead")
        overdue = list(open_items.filter(overdue_at__lte=now).order_by("overdue_at")[:50])
        due_today = list(
            open_items.filter(overdue_at__gt=now, due_at__lte=end_of_day).order_by("due_at")[:50]
        )
        if not overdue and not due_today:
            continue
        if not digest_claim(recipient=rep, kind=DigestRun.Kind.DAILY, day=today, now=now):
            continue
        with translation.override(rep.language):
            lines = [_("Overdue: %(n)d") % {"n": len(overdue)}]
            lines += [f"  - {f.get_kind_display()}: {f.lead}" for f in overdue]
            lines += ["", _("Due today: %(n)d") % {"n": len(due_today)}]
            lines += [f"  - {f.get_kind_display()}: {f.lead}" for f in due_today]
            subject = _("Your follow-ups for %(day)s") % {"day": today.strftime("%d.%m.%Y")}
        send_mail(f"[LeadBridge] {subject}", "\n".join(lines), None, [rep.email])
        sent += 1
    return sent


def digest_claim(*, recipient: User, kind: str, day, now: datetime) -> bool:
    """True for the one caller that may send this digest (unique recipient/kind/day)."""
    try:
        with transaction.atomic():
            DigestRun.objects.create(recipient=recipient, kind=kind, day=day, sent_at=now)
    except IntegrityError:
        return False
    return True
