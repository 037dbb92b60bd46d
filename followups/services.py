"""Follow-up rules: what a rep does with a follow-up, and the overdue sweep.

Deadlines and initial follow-ups: followups.deadlines; notification emails and
digests: followups.notifications.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, namedtuple
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F, Q
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Role, User
from campaigns.models import MaterialEmail
from integrations.models import Event
from integrations.services import (
    webhook_deliveries_for_overdue,
    webhook_followups_completed,
    webhook_lead_event,
)
from leads.models import Lead, LeadEvent

from .deadlines import _set_deadlines, calendar_for, followup_build, sla_policy_for
from .models import Escalation, FollowUp, Notification, SlaPolicy

log = logging.getLogger(__name__)


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
    # What a reached call came to (the rep's one-glance summary; the note says the rest).
    DETAILS = [
        ("interested", gettext_lazy("Interested")),
        ("needs_time", gettext_lazy("Interested, not yet")),
        ("material_only", gettext_lazy("Wanted the material only")),
        ("not_interested", gettext_lazy("Not interested")),
        ("wrong_person", gettext_lazy("Not the right contact")),
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
    detail: str = "",
) -> FollowUp | None:
    """Record a call attempt on a call-back and book what follows from it.

    reached → done (with what it came to, `detail`), and a new call-back if a time
    was agreed; call later → done, a new call-back at the agreed time;
    no answer → done, the next attempt after the policy's retry time, until
    max_call_attempts, then the lead is unreachable; wrong number → unreachable.
    Returns the follow-up booked next, if any.
    """
    from leads.models import Stage

    if followup.kind != FollowUp.Kind.CALLBACK:
        raise ValueError(_("Calls are logged on call-back follow-ups."))
    if (outcome == CallOutcome.CALL_LATER and call_back_at is None) or (
        call_back_at is not None and call_back_at <= at
    ):
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
            "detail": detail if outcome == CallOutcome.REACHED else "",
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
    if outcome == CallOutcome.REACHED and call_back_at is None:
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


def team_leads(*, team_id: int | None) -> list[int]:
    """The team leads of a team (administrators stand in when it has none)."""
    return _managers_by_team({team_id})[team_id]


def notify(
    *, recipient_ids: list[int], kind: str, by: User, now: datetime, **about
) -> list[Notification]:
    """One bell notification per recipient (not `by`, who did it), each also emailed once
    (notification_emails_send), queued on commit so the other side hears of it at once."""
    from .tasks import send_notification_emails_task

    created = Notification.objects.bulk_create(
        Notification(recipient_id=pk, kind=kind, created_at=now, **about)
        for pk in dict.fromkeys(recipient_ids)
        if pk is not None and pk != by.pk
    )
    if created:
        transaction.on_commit(send_notification_emails_task.delay)
    return created
