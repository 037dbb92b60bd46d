"""API intake: one lead through lead_receive, many leads set-based.

leads_receive_bulk does what lead_receive does for each lead — the external-id
repeat check, deduplication by identity (skip / merge / create), routing to a
team and round-robin to a rep, the RECEIVED/ASSIGNED timeline entries, the
follow-ups the handoff contract owes with their deadlines, the lead.created
webhook — but with a handful of queries per batch instead of a dozen per lead.
tests/api/test_bulk_intake.py holds it to the same result as lead_receive.
"""

from __future__ import annotations

import json
import operator
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, Q
from django.db.models.base import ModelState
from django.utils import timezone

from accounts.models import Role, RoutingRule, Team, User
from followups.deadlines import DeadlineShifts, calendar_for, initial_followups, sla_policy_for
from followups.models import FollowUp
from leadbridge.jsontext import JsonText, for_copy, for_orm
from leads.models import Lead, LeadEvent, lawful_basis_record
from leads.services import MERGEABLE, OnDuplicate, lead_merge_into, lead_receive, rep_for

from .models import Event
from .services import webhook_deliveries_for_leads

BULK_LIMIT = 10_000


@dataclass
class Received:
    lead: Lead
    created: bool
    status: str  # created | existing | duplicate | merged


def _assignment(data: dict, now: datetime) -> bool:
    """Owner/team chosen by a team lead or admin replace routing; returns whether to route."""
    owner = data.pop("owner", None)
    team = data.pop("team", None)
    if owner is not None:
        data["owner"], data["team"] = owner, owner.team
        return False
    if team is not None:
        data["team"], data["owner"] = team, rep_for(team=team, now=now)
        return False
    return True


def lead_receive_one(
    *, data: dict, source: str, now: datetime, actor: User, on_duplicate: str
) -> Received:
    """One lead through leads.services.lead_receive (call inside a transaction)."""
    data = dict(data)
    campaign = data.pop("campaign")
    assign = _assignment(data, now)
    result = lead_receive(
        data=data,
        source=source,
        now=now,
        actor=actor,
        campaign=campaign,
        assign=assign,
        on_duplicate=on_duplicate,
    )
    if result.created:
        state = "created"
    elif result.duplicate:
        state = "merged" if on_duplicate == OnDuplicate.MERGE else "duplicate"
    else:
        state = "existing"
    return Received(result.lead, result.created, state)


# --- many at once ------------------------------------------------------------------


class _Rotation:
    """rep_for for a whole batch: longest-waiting present rep first, under capacity first."""

    def __init__(self, team: Team, now: datetime):
        start_of_day = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
        self.reps = list(
            User.objects.filter(team=team, role=Role.REP, is_active=True, is_absent=False)
            .annotate(today=Count("leads", filter=Q(leads__created_at__gte=start_of_day)))
            .order_by(F("last_assigned_at").asc(nulls_first=True), "pk")
        )

    def next(self) -> User | None:
        if not self.reps:
            return None
        rep = next((r for r in self.reps if r.today < r.daily_capacity), self.reps[0])
        # Just assigned: last in the line, as rep_for's last_assigned_at = now makes it.
        self.reps.remove(rep)
        self.reps.append(rep)
        rep.today += 1
        return rep


def _chunks(values: list, size: int = 5000):
    for start in range(0, len(values), size):
        yield values[start : start + size]


def leads_receive_bulk(
    *, items: list[tuple[int, dict]], source: str, now: datetime, actor: User, on_duplicate: str
) -> dict[int, tuple[str, int]]:
    """Receive validated leads; {index: (status, lead id)}. Call inside a transaction.

    Steps:
    1. repeats: (campaign, external_id) already stored, or earlier in the batch;
    2. known people by Lead.dedup_key (unless on_duplicate is create), among the
       leads the actor may see: skip answers with the known lead, merge fills its
       empty fields first; a person known only to a team the actor cannot see is new;
    3. routing: the campaign's team else the first matching rule; reps in
       rotation per team, team rows locked in pk order (as rep_for does);
    4. insert leads, their timeline entries, their follow-ups with deadlines;
    5. lead.created webhooks for the new leads.
    A concurrent request storing one of the external ids first makes the insert
    fail on the unique constraint: the batch is rolled back to its savepoint
    and done again, and then finds that lead in step 1.
    """
    for attempt in range(3):
        try:
            with transaction.atomic():
                return _receive_bulk(
                    items=items, source=source, now=now, actor=actor, on_duplicate=on_duplicate
                )
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def _receive_bulk(*, items, source, now, actor, on_duplicate) -> dict[int, tuple[str, int]]:
    results: dict[int, tuple[str, int]] = {}
    # 1. repeats by external id
    wanted: dict[int, set[str]] = defaultdict(set)
    for _index, data in items:
        if data.get("external_id"):
            wanted[data["campaign"].pk].add(data["external_id"])
    stored: dict[tuple[int, str], int] = {}
    for campaign_id, external_ids in wanted.items():
        for chunk in _chunks(sorted(external_ids)):
            for pk, external_id in Lead.objects.filter(
                campaign_id=campaign_id, external_id__in=chunk
            ).values_list("pk", "external_id"):
                stored[(campaign_id, external_id)] = pk

    first_material: dict[int, object] = {}
    blanks: dict[tuple, Lead] = {}
    new: list[tuple[int, Lead]] = []
    same_as: list[tuple[int, str, Lead]] = []  # (index, status, the new lead it repeats)
    by_external: dict[tuple[int, str], Lead] = {}
    for index, data in items:
        fields = dict(data)
        campaign = fields.pop("campaign")
        fields.pop("on_duplicate", None)
        external_id = fields.get("external_id", "")
        if external_id:
            key = (campaign.pk, external_id)
            if key in stored:
                results[index] = ("existing", stored[key])
                continue
            if key in by_external:
                same_as.append((index, "existing", by_external[key]))
                continue
        route = _assignment(fields, now) if ("owner" in fields or "team" in fields) else True
        fields.setdefault("received_at", now)
        fields.update(lawful_basis_record(fields, source=source))
        lead = _new_lead(campaign, source, fields, blanks)
        lead._route = route
        lead.channel = lead.channel or campaign.channel
        if lead.requests_material and lead.requested_material_id is None:
            if campaign.pk not in first_material:
                first_material[campaign.pk] = campaign.materials.order_by("pk").first()
            _relate(lead, "requested_material", first_material[campaign.pk])
        lead.dedup_key = lead.compute_dedup_key()
        if external_id:
            by_external[(campaign.pk, external_id)] = lead
        new.append((index, lead))

    # 2. known people
    merges: list[tuple[Lead, Lead]] = []  # (earlier stored lead, this one)
    batch_merges: list[tuple[Lead, list[str]]] = []  # (new lead, fields filled from a later row)
    if on_duplicate != OnDuplicate.CREATE:
        earlier: dict[str, tuple] = {}
        keys = sorted({lead.dedup_key for _index, lead in new})
        for chunk in _chunks(keys):
            # Only leads the sender may see (as lead_receive): others are not named or merged.
            seen = Lead.objects.visible_to(actor).filter(dedup_key__in=chunk)
            for pk, key, received_at in seen.values_list("pk", "dedup_key", "received_at"):
                if key not in earlier or (received_at, pk) > earlier[key]:
                    earlier[key] = (received_at, pk)
        first_new: dict[str, Lead] = {}
        kept = []
        status = "merged" if on_duplicate == OnDuplicate.MERGE else "duplicate"
        for index, lead in new:
            key = lead.dedup_key
            if key in earlier:
                results[index] = (status, earlier[key][1])
                if on_duplicate == OnDuplicate.MERGE:
                    merges.append((earlier[key][1], lead))
            elif key in first_new:
                first = first_new[key]
                same_as.append((index, status, first))
                if on_duplicate == OnDuplicate.MERGE:
                    filled = [
                        name
                        for name in MERGEABLE
                        if getattr(lead, name) and not getattr(first, name)
                    ]
                    for name in filled:
                        setattr(first, name, getattr(lead, name))
                    batch_merges.append((first, filled))
            else:
                first_new[key] = lead
                kept.append((index, lead))
        new = kept
        if merges:
            stored_leads = Lead.objects.in_bulk([pk for pk, _lead in merges])
            for pk, lead in merges:
                lead_merge_into(stored_leads[pk], lead, actor=actor, now=now, source=source)

    # 3. routing to teams; then the follow-ups' deadlines (the costly part) before
    # any lock is taken; then reps in rotation under the team locks.
    leads = [lead for _index, lead in new]
    _route_to_teams(leads)
    followups, policies = _build_followups(leads)
    # On PostgreSQL the ids, and with them the timeline rows, are ready before the
    # lock too; elsewhere bulk_create gives the ids.
    pg = connection.vendor == "postgresql"
    _take_ids(Lead, leads, now=now)
    _take_ids(FollowUp, followups, now=now)
    timeline = {"actor": actor, "now": now, "source": source, "batch_merges": batch_merges}
    prepared = _timeline_prepare(leads, followups, **timeline) if pg else None
    _assign_reps(leads, now=now)
    for followup in followups:
        followup.assignee_id = followup.lead.owner_id

    # 4. insert
    _insert(Lead, leads)
    for index, lead in new:
        results[index] = ("created", lead.pk)
    for index, status, lead in same_as:
        results[index] = (status, lead.pk)
    _insert(FollowUp, followups)
    if prepared is None:
        prepared = _timeline_prepare(leads, followups, **timeline)
    _timeline_insert(leads, prepared, actor=actor, now=now)

    # 5. webhooks
    webhook_deliveries_for_leads(
        event=Event.LEAD_CREATED, lead_ids=[lead.pk for lead in leads], now=now
    )
    return results


_LEAD_FIELDS = frozenset(name for f in Lead._meta.concrete_fields for name in (f.name, f.attname))


def _new_lead(campaign, source: str, fields: dict, blanks: dict) -> Lead:
    """Lead(campaign=…, source=…, **fields), from a copy of a blank one per campaign.

    Model.__init__ with keyword arguments was a tenth of a bulk request; Lead's
    defaults are constants, so a copy of a blank lead holds the same values.
    """
    if not fields.keys() <= _LEAD_FIELDS:
        return Lead(campaign=campaign, source=source, **fields)  # raises as Lead() does
    blank = blanks.get((campaign.pk, source))
    if blank is None:
        blank = blanks[(campaign.pk, source)] = Lead(campaign=campaign, source=source)
    lead = Lead.__new__(Lead)
    lead.__dict__.update(blank.__dict__)
    lead._state = ModelState()  # unsaved, no cached relations
    _relate(lead, "campaign", campaign)
    for name, value in fields.items():
        setattr(lead, name, value)
    return lead


_LEAD_RELATIONS = {
    f.name: (f.attname, f.target_field.attname) for f in Lead._meta.concrete_fields if f.is_relation
}


def _relate(lead: Lead, name: str, value) -> None:
    """`lead.<name> = value` for a foreign key, without the descriptor's checks.

    The same id and cached object; set some 60,000 times in a bulk request.
    """
    attname, target = _LEAD_RELATIONS[name]
    lead.__dict__[attname] = None if value is None else getattr(value, target)
    lead._state.fields_cache[name] = value


def _route_to_teams(leads: list[Lead]) -> None:
    """team_for: the campaign's team, else the first matching routing rule."""
    rules = None
    for lead in leads:
        if not lead._route:
            continue
        campaign = lead.campaign
        if campaign.team_id:
            _relate(lead, "team", campaign.team)
            continue
        if rules is None:
            rules = list(RoutingRule.objects.select_related("team"))
        _relate(
            lead,
            "team",
            next(
                (
                    rule.team
                    for rule in rules
                    if rule.matches(
                        channel=lead.channel, country=lead.country, postcode=lead.postcode
                    )
                ),
                None,
            ),
        )


def _build_followups(leads: list[Lead]) -> tuple[list[FollowUp], dict]:
    """initial_followups for each lead (unsaved; assignees are set once reps are chosen).

    initial_followups runs for the first lead of each kind (what it asked for, its
    channel, team and policy); the others of that kind get copies of those
    follow-ups with their own anchor and deadlines (_set_deadlines, as followup_build
    sets them, through DeadlineShifts). Building 20,000 model instances from keyword
    arguments cost more than computing their deadlines.
    """
    followups: list[FollowUp] = []
    policies: dict = {}
    calendars: dict = {}
    shapes: dict[tuple, list[FollowUp]] = {}
    shifts = DeadlineShifts()
    for lead in leads:
        campaign = lead.campaign
        policy_key = (campaign.sla_policy_id if campaign else None, lead.channel)
        if policy_key not in policies:
            policies[policy_key] = sla_policy_for(lead=lead)
        if lead.team_id not in calendars:
            calendars[lead.team_id] = calendar_for(team=lead.team)
        policy, calendar = policies[policy_key], calendars[lead.team_id]
        material = lead.requested_material if lead.requests_material else None
        shape_key = (
            lead.requests_material,
            material is not None and material.is_printed,
            lead.wants_call,
            lead.channel,
            lead.team_id,
            policy_key,
        )
        shape = shapes.get(shape_key)
        if shape is None:
            shape = shapes[shape_key] = initial_followups(
                lead=lead, policy=policy, calendar=calendar
            )
            followups += shape
            continue
        for first in shape:
            followup = FollowUp.__new__(FollowUp)
            followup.__dict__.update(first.__dict__)
            followup._state = ModelState()  # unsaved
            # What `followup.lead, followup.policy = lead, policy` does (lead_id stays
            # None until the lead is inserted; policy_id is the first's), without the
            # descriptors' checks: 20,000 times a request.
            followup._state.fields_cache = {"lead": lead, "policy": policy}
            followup.starts_at, followup.due_at = lead.received_at, None
            shifts.set(followup, policy=policy, calendar=calendar)
            followups.append(followup)
    return followups, policies


def _assign_reps(leads: list[Lead], *, now: datetime) -> None:
    """rep_for for the whole batch."""
    to_assign = [lead for lead in leads if lead._route and lead.team_id]
    team_ids = sorted({lead.team_id for lead in to_assign})
    if not team_ids:
        return
    # Lock the teams (pk order, no deadlock with another batch): concurrent
    # intake into a team takes turns, as with rep_for. Held only for the rep
    # choice and the inserts: deadlines were computed before.
    teams = {
        team.pk: team
        for team in Team.objects.select_for_update().filter(pk__in=team_ids).order_by("pk")
    }
    rotations = {pk: _Rotation(team, now) for pk, team in teams.items()}
    used: set[int] = set()
    for lead in to_assign:
        rep = rotations[lead.team_id].next()
        _relate(lead, "owner", rep)
        if rep is not None:
            used.add(rep.pk)
    if used:
        User.objects.filter(pk__in=used).update(last_assigned_at=now)


def _take_ids(model, objs: list, *, now: datetime) -> None:
    """PostgreSQL: ids from the table's own sequence, so rows can be written with them.

    Also the timestamps, and foreign keys to objects given ids just before
    (follow-up → lead). Taken before the team lock: only the rep choice and
    the writes need it. (Elsewhere bulk_create gives the ids.)
    """
    if not objs or connection.vendor != "postgresql":
        return
    fields = model._meta.concrete_fields
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
            [model._meta.db_table, len(objs)],
        )
        ids = [row[0] for row in cursor.fetchall()]
    pk_name = model._meta.pk.attname
    stamped = [
        f.attname
        for f in fields
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False)
    ]
    relations = [(f.attname, f.name) for f in fields if f.is_relation]
    for obj, pk in zip(objs, ids, strict=True):
        values = obj.__dict__
        values[pk_name] = pk
        for name in stamped:
            values[name] = now
        # The cached object stays, as `obj.lead = lead` would leave it.
        cache = obj._state.fields_cache
        for attname, name in relations:
            if values[attname] is None:
                cached = cache.get(name)
                if cached is not None:
                    values[attname] = cached.pk


def _insert(model, objs: list) -> None:
    """Insert model instances: COPY on PostgreSQL (ids from _take_ids), bulk_create elsewhere.

    COPY is several times faster than a multi-row INSERT for thousands of rows
    (bench/api_bench.py prints the COPY floor next to the bulk figure). For models
    without JSON columns (Lead, FollowUp): the timeline's rows go through _insert_rows.
    """
    if not objs:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(objs, batch_size=2000)
        return
    fields = model._meta.concrete_fields
    table = model._meta.db_table
    columns = ", ".join(connection.ops.quote_name(f.column) for f in fields)
    attnames = [f.attname for f in fields]
    # The row's values in one call, from the instance's __dict__: a new instance
    # holds every column there, and a foreign key's *_id read through its
    # descriptor cost more than the rest of the row.
    row_of = operator.itemgetter(*attnames)
    # wrap_database_errors: a unique violation inside COPY is Django's IntegrityError,
    # which leads_receive_bulk retries (a concurrent request stored an external id first).
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.connection.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
    ):
        for obj in objs:
            copy.write_row(row_of(obj.__dict__))
            obj._state.adding = False
            obj._state.db = connection.alias


_EVENT_COLUMNS = ("lead_id", "followup_id", "kind", "actor_id", "at", "data")


def _timeline_prepare(
    leads: list[Lead],
    followups: list[FollowUp],
    *,
    actor: User,
    now: datetime,
    source: str,
    batch_merges: list,
) -> tuple[list[tuple], list[tuple]]:
    """The timeline rows lead_receive + followups_create_for_lead write, but ASSIGNED.

    ([RECEIVED row of each lead], [the other rows]); _timeline_insert adds the
    ASSIGNED rows once reps are chosen. Payloads are JsonText (serialised once:
    the RECEIVED payload is the same for a campaign and ASSIGNED for a rep).
    """
    actor_id = actor.pk if actor else None
    received_rows: list[tuple] = []  # _EVENT_COLUMNS: plain rows, no model instances
    received: dict = {}
    for lead in leads:
        campaign = lead.campaign
        payload = received.get(lead.campaign_id)
        if payload is None:
            payload = received[lead.campaign_id] = JsonText(
                {"source": source, "campaign": campaign.name if campaign else None}
            )
        received_rows.append(
            (lead.pk, None, LeadEvent.Kind.RECEIVED, actor_id, lead.received_at, payload)
        )
    rows: list[tuple] = []
    as_json: dict = {}  # kinds and policy names, serialized once
    for followup in followups:
        policy, kind = followup.policy, followup.kind
        name = as_json.get(policy.pk)
        if name is None:
            name = as_json[policy.pk] = json.dumps(policy.name)
        kind_json = as_json.get(kind)
        if kind_json is None:
            kind_json = as_json[kind] = json.dumps(kind)
        lead = followup.lead
        due_at = followup.due_at.isoformat()
        rows.append(
            (
                lead.pk,
                followup.pk,
                LeadEvent.Kind.FOLLOWUP_CREATED,
                None,
                lead.received_at,
                # json.dumps of {"kind", "due_at", "policy"}, written out (isoformat()
                # needs no escaping).
                JsonText.written(
                    f'{{"kind": {kind_json}, "due_at": "{due_at}", "policy": {name}}}'
                ),
            )
        )
    for lead, filled in batch_merges:
        rows.append(
            (
                lead.pk,
                None,
                LeadEvent.Kind.NOTE,
                actor_id,
                now,
                JsonText({"note": "merged duplicate", "source": source, "filled": sorted(filled)}),
            )
        )
    return received_rows, rows


def _timeline_insert(
    leads: list[Lead], prepared: tuple[list, list], *, actor: User, now: datetime
) -> None:
    """Each lead's RECEIVED row, then its ASSIGNED row, then the others (as lead_receive)."""
    actor_id = actor.pk if actor else None
    received_rows, rows = prepared
    events: list[tuple] = []
    assigned: dict = {}
    for lead, received in zip(leads, received_rows, strict=True):
        events.append(received)
        if lead.owner_id:
            key = (lead.owner_id, lead.team_id)
            payload = assigned.get(key)
            if payload is None:
                payload = assigned[key] = JsonText(
                    {
                        "to": lead.owner_id,
                        "to_name": str(lead.owner),
                        "team": str(lead.team),
                        "by": "routing",
                    }
                )
            events.append((lead.pk, None, LeadEvent.Kind.ASSIGNED, actor_id, now, payload))
    events += rows
    _insert_rows(LeadEvent, _EVENT_COLUMNS, events, now=now)


def _insert_rows(model, columns: tuple[str, ...], rows: list[tuple], *, now: datetime) -> None:
    """Insert plain rows (created_at = now): COPY on PostgreSQL, bulk_create elsewhere.

    JSON columns may hold JsonText (serialised once; leadbridge.jsontext).
    """
    if not rows:
        return
    if connection.vendor != "postgresql":
        model.objects.bulk_create(
            [
                model(**{name: for_orm(value) for name, value in zip(columns, row, strict=True)})
                for row in rows
            ],
            batch_size=2000,
        )
        return
    json_columns = {
        f.attname for f in model._meta.concrete_fields if f.get_internal_type() == "JSONField"
    }
    positions = [i for i, name in enumerate(columns) if name in json_columns]
    names = ", ".join(
        connection.ops.quote_name(model._meta.get_field(c.removesuffix("_id")).column)
        for c in columns
    )
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.connection.cursor().copy(
            f"COPY {model._meta.db_table} ({names}, created_at) FROM STDIN"
        ) as copy,
    ):
        for row in rows:
            if positions:
                row = list(row)
                for i in positions:
                    row[i] = for_copy(row[i])
            copy.write_row((*row, now))
