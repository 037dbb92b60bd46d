"""Lead intake and routing: every path (web form, import, API, manual, demo) goes through here."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from django.db import DEFAULT_DB_ALIAS, IntegrityError, connection, connections, transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from accounts.models import Role, RoutingRule, Team, User
from campaigns.models import Campaign
from leadbridge import lookups
from leadbridge.prepared import numbered, prepared_cursor

from .models import Decision, Lead, LeadEvent, RejectReason, Stage, lawful_basis_record

if TYPE_CHECKING:
    from followups.models import FollowUp


def team_for(
    *, channel: str, country: str, postcode: str, campaign: Campaign | None
) -> Team | None:
    """The campaign's follow-up team, else the first matching routing rule."""
    if campaign is not None and campaign.team_id:
        return campaign.team
    for rule in RoutingRule.objects.select_related("team"):
        if rule.matches(channel=channel, country=country, postcode=postcode):
            return rule.team
    return None


# rep_for's choice as one statement (it runs for every lead; SQL by hand, as building
# it with the ORM cost more than running it): the first present rep of the team in
# line (longest-waiting first: index user_routing_line) who is under today's
# capacity, else the first in line. Today's leads are counted on the (owner,
# created_at) index for one rep after the other until one is under capacity, so
# usually for one rep only (counting every rep's for the sort cost 0.3 ms a lead at
# 250 leads a rep), and on PostgreSQL only up to the capacity (SQLite allows no
# LIMIT taken from the outer row). The chosen rep moves to the end of the line
# (last_assigned_at = now) in the same statement.
_REP_FOR_SQL = """
UPDATE accounts_user SET last_assigned_at = %s
WHERE id = COALESCE(
    (SELECT rep.id FROM accounts_user rep
     WHERE rep.team_id = %s AND rep.role = %s AND rep.is_active = %s AND rep.is_absent = %s
       AND (SELECT COUNT(*) FROM {todays_leads}) < rep.daily_capacity
     ORDER BY rep.last_assigned_at ASC NULLS FIRST, rep.id
     LIMIT 1),
    (SELECT rep.id FROM accounts_user rep
     WHERE rep.team_id = %s AND rep.role = %s AND rep.is_active = %s AND rep.is_absent = %s
     ORDER BY rep.last_assigned_at ASC NULLS FIRST, rep.id
     LIMIT 1)
)
RETURNING {columns}
"""
_TODAYS_LEADS = "leads_lead lead WHERE lead.owner_id = rep.id AND lead.created_at >= %s"
_REP_FOR = {
    "postgresql": _REP_FOR_SQL.replace(
        "{todays_leads}", f"(SELECT 1 FROM {_TODAYS_LEADS} LIMIT rep.daily_capacity) AS today"
    ),
    "sqlite": _REP_FOR_SQL.replace("{todays_leads}", _TODAYS_LEADS),
}


def _fetch_one(model, sql: str, params: list, *, first: tuple[str, list] | None = None):
    """The first row of `sql` as a model instance, or None: Model.objects.raw(...)[0], cheaper.

    `{columns}` in sql stands for the model's columns in field order, so the row
    goes straight to Model.from_db, through the converters Django's compiler
    would apply (the backend's, e.g. SQLite's aware datetimes, and the fields'
    own); RawQuerySet matched names and looked those up again on every call.

    PostgreSQL only: `first`, a statement ($n placeholders) sent before `sql` in
    the same round trip (psycopg's pipeline mode). PostgreSQL still runs them one
    after the other, and `sql` takes its snapshot once `first` is done, so it
    sees what was committed while `first` waited for a lock.
    """
    columns, attnames, converters = _columns_of(model, connection.alias)
    sql = sql.replace("{columns}", columns)
    if connection.vendor == "postgresql":
        with prepared_cursor() as cursor:
            if first is None:
                cursor.execute(numbered(sql), params)
            else:
                with (
                    prepared_cursor() as before,
                    connection.wrap_database_errors,
                    connection.connection.pipeline(),
                ):
                    before.execute(*first)
                    cursor.execute(numbered(sql), params)
            row = cursor.fetchone()
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            row = cursor.fetchone()
    if row is None:
        return None
    if converters:
        row = list(row)
        for index, expression, chain in converters:
            for convert in chain:
                row[index] = convert(row[index], expression, connection)
    return model.from_db(connection.alias, attnames, row)


@functools.cache
def _columns_of(model, alias: str) -> tuple[str, list[str], list[tuple]]:
    """The model's columns, their attnames and, per column that has any, its converters."""
    db = connections[alias]
    fields = model._meta.concrete_fields
    converters = []
    for index, field in enumerate(fields):
        expression = field.get_col(model._meta.db_table)
        chain = db.ops.get_db_converters(expression) + field.get_db_converters(db)
        if chain:
            converters.append((index, expression, chain))
    columns = ", ".join(db.ops.quote_name(f.column) for f in fields)
    return columns, [f.attname for f in fields], converters


def rep_for(*, team: Team | None, now: datetime) -> User | None:
    """Round-robin within the team over present reps, longest-waiting first.

    Reps under today's capacity come first; when all are full the lead still
    gets an owner (a lead nobody owns is the failure LeadBridge exists to end),
    and the capacity warning belongs to campaign planning, not to routing.
    Two statements: the team lock, then _REP_FOR_SQL (on PostgreSQL in one round
    trip: the team is locked for the rest of the transaction, so the fewer waits
    for the network while it is held, the sooner the next lead of the team goes).
    """
    if team is None:
        return None
    # Lock the team row: two leads arriving at once get two different reps.
    lock = None
    if connection.vendor == "postgresql":
        lock = ("SELECT id FROM accounts_team WHERE id = $1 FOR UPDATE", [team.pk])
    else:  # SQLite: writers take turns anyway (select_for_update is a no-op there)
        list(Team.objects.select_for_update().filter(pk=team.pk).values_list("pk", flat=True))
    start_of_day = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    stamp, created = User._meta.get_field("last_assigned_at"), Lead._meta.get_field("created_at")
    present = [team.pk, Role.REP.value, True, False]
    return _fetch_one(
        User,
        _REP_FOR[connection.vendor],
        [
            stamp.get_db_prep_value(now, connection),
            *present,
            created.get_db_prep_value(start_of_day, connection),
            *present,
        ],
        first=lock,
    )


# An intake path refuses an erased person (privacy.services.suppressed_emails) with this.
ERASED_PERSON = _("This person asked to be erased; record a new lawful basis to add them again.")


class PersonErased(ValueError):
    """The lead's email is on the suppression list of erased people."""

    def __init__(self):
        super().__init__(str(ERASED_PERSON))


def erased_among(emails) -> set[str]:
    """The given emails whose person was erased: one query for all (bulk and import chunks)."""
    from privacy.services import suppressed_emails

    return suppressed_emails(emails)


@dataclass
class Intake:
    lead: Lead
    created: bool
    duplicate: bool = False  # matched an earlier lead by email / phone / company + name


class OnDuplicate:
    CREATE = "create"  # a new enquiry from a known person is still a new lead
    SKIP = "skip"  # keep the earlier lead untouched
    MERGE = "merge"  # fill the earlier lead's empty fields, note it on its timeline


MERGEABLE = ("company", "email", "phone", "street", "postcode", "city", "region", "message")


def _known(*, campaign: Campaign | None, external_id: str, dedup_key: str | None) -> Lead | None:
    """One query for both checks before intake; `.repeat` says which one matched.

    The lead this campaign + external_id made (repeat=True) wins; else the most
    recent earlier lead with the same identity, as duplicate_of finds it.
    (SQL by hand: this runs for every lead, and the ORM's building cost more.)
    """
    campaign_id = campaign.pk if campaign is not None else None
    # "external_id <> ''" (true here) lets a prepared statement's generic plan use the
    # partial unique index; without it PostgreSQL read every lead of the campaign.
    if campaign_id:
        same_record = "(campaign_id = %s AND external_id = %s AND external_id <> '')"
        record_params = [campaign_id, external_id]
    else:
        same_record = "(campaign_id IS NULL AND external_id = %s AND external_id <> '')"
        record_params = [external_id]
    where, params = [], []
    if external_id:
        where.append(same_record)
        params += record_params
    if dedup_key is not None:
        where.append("dedup_key = %s")
        params.append(dedup_key)
    order = "received_at DESC, id DESC"
    if external_id:
        order = f"{same_record} DESC, {order}"
        params += record_params
    known = _fetch_one(
        Lead,
        f"SELECT {{columns}} FROM leads_lead WHERE {' OR '.join(where)} ORDER BY {order} LIMIT 1",
        params,
    )
    if known is not None:
        known.repeat = bool(external_id) and (known.campaign_id, known.external_id) == (
            campaign_id,
            external_id,
        )
    return known


def duplicate_of(*, key: str, user: User | None = None) -> Lead | None:
    """The most recent earlier lead with the same identity (Lead.dedup_key); with a
    user, the most recent one among the leads that user may see."""
    leads = Lead.objects.all() if user is None else Lead.objects.visible_to(user)
    return leads.filter(dedup_key=key).order_by("-received_at", "-pk").first()


def lead_receive(
    *,
    data: dict,
    source: str,
    now: datetime,
    actor: User | None = None,
    campaign: Campaign | None = None,
    assign: bool = True,
    on_duplicate: str = OnDuplicate.CREATE,
    allow_suppressed: bool = False,
) -> Intake:
    """Create a lead with its follow-ups, or return the one already received.

    An email on the suppression list (a person who asked to be erased) raises
    PersonErased, unless allow_suppressed (a new lawful basis was recorded).

    `data` holds Lead fields (received_at defaults to now), a lawful_basis among them
    (its source and time are recorded here: lawful_basis_record). A repeat of the same
    campaign + external_id returns the existing lead (created=False), also when
    two requests race: the unique constraint decides, the loser reads the winner.
    A match by identity is handled as `on_duplicate` says, among the leads the
    actor may see (a lead outside the actor's scope is never written to or named).
    """
    from followups.deadlines import followups_create_for_lead
    from integrations.services import webhook_lead_event

    fields = dict(data)
    if not allow_suppressed and fields.get("email") and erased_among([fields["email"]]):
        raise PersonErased
    fields.setdefault("received_at", now)
    fields.update(lawful_basis_record(fields, source=source))
    external_id = fields.get("external_id", "")
    lead = Lead(campaign=campaign, source=source, **fields)
    lead.dedup_key = lead.compute_dedup_key()
    check_identity = on_duplicate != OnDuplicate.CREATE
    if external_id or check_identity:
        known = _known(
            campaign=campaign,
            external_id=external_id,
            dedup_key=lead.dedup_key if check_identity else None,
        )
        if known is not None and known.repeat:
            return Intake(known, False)
        # Deduplication stays within what the sender may see: a lead of a team they
        # cannot see is neither merged into nor named. Without an earlier lead of
        # their own the person is new to them: a new lead, answered as any other.
        if (
            known is not None
            and actor is not None
            and not Lead.objects.visible_to(actor).filter(pk=known.pk).exists()
        ):
            known = duplicate_of(key=lead.dedup_key, user=actor)
        if known is not None:  # the same person, by dedup_key
            if on_duplicate == OnDuplicate.MERGE:
                lead_merge_into(known, lead, actor=actor, now=now, source=source)
            return Intake(known, False, duplicate=True)
    if campaign is not None:
        lead.channel = lead.channel or campaign.channel
        if lead.requests_material and lead.requested_material_id is None:
            # Kept per process (leadbridge.lookups): read for every lead asking for material.
            lead.requested_material = lookups.intake.get(
                ("first-material", campaign.pk), lambda: campaign.materials.order_by("pk").first()
            )
    if assign:
        lead.team = team_for(
            channel=lead.channel, country=lead.country, postcode=lead.postcode, campaign=campaign
        )
    received = LeadEvent(
        lead=lead,
        kind=LeadEvent.Kind.RECEIVED,
        actor=actor,
        at=lead.received_at,
        data={"source": source, "campaign": campaign.name if campaign else None},
    )
    # PostgreSQL: the follow-ups and their deadlines (the costly part) before the
    # team lock; under it the rep, and the one statement that writes it all.
    initial = _initial_followups(lead) if connection.vendor == "postgresql" else None
    try:
        with transaction.atomic():
            if assign:
                lead.owner = rep_for(team=lead.team, now=now)
            timeline = [received]
            if lead.owner_id:
                timeline.append(
                    LeadEvent(
                        lead=lead,
                        kind=LeadEvent.Kind.ASSIGNED,
                        actor=actor,
                        at=now,
                        data={
                            "to": lead.owner_id,
                            "to_name": str(lead.owner),
                            "team": str(lead.team),
                            "by": "routing",
                        },
                    )
                )
            if initial is not None:
                # The lead, its follow-ups and all timeline entries in one statement.
                _insert_lead_with_followups(lead=lead, timeline=timeline, initial=initial)
            else:
                lead.save()
                # One INSERT for these entries and the follow-ups' own.
                followups_create_for_lead(lead=lead, timeline=timeline)
            webhook_lead_event(
                event="lead.created", lead=lead, now=now
            )  # outbox row, same transaction
    except IntegrityError:
        if not external_id:
            raise
        existing = Lead.objects.filter(campaign=campaign, external_id=external_id).first()
        if existing is None:
            raise
        return Intake(existing, False)
    return Intake(lead, True)


def _initial_followups(lead: Lead) -> tuple:
    """(policy, the lead's initial follow-ups with their deadlines), unsaved and unassigned."""
    from followups.deadlines import initial_followups, sla_policy_for

    policy = sla_policy_for(lead=lead)
    return policy, initial_followups(lead=lead, policy=policy)


def _insert_lead_with_followups(
    *, lead: Lead, timeline: list[LeadEvent], initial: tuple
) -> list[FollowUp]:
    """lead.save() and followups_create_for_lead(lead=lead, timeline=timeline) in one statement.

    PostgreSQL only: data-modifying CTEs. The lead's INSERT returns its id, which
    the follow-ups' and timeline rows take from it; each FOLLOWUP_CREATED entry
    takes its follow-up's id by kind (a lead's initial follow-ups have one of
    each kind). The rows and their values are the ones lead.save() and the two
    bulk_create calls would write, in the same order (ids ascending as before);
    the statement's text depends only on how many follow-ups and entries there
    are, so it is built once per process (building it with the ORM each time was
    most of the cost). No signal is lost: Lead, FollowUp and LeadEvent have no
    receivers, and bulk_create sent none.

    `initial` (_initial_followups) was computed before the rep was chosen: the
    follow-ups are assigned to the lead's owner here.
    """
    from followups.deadlines import followup_created_entry, followups_create_for_lead

    policy, followups = initial
    kinds = [followup.kind for followup in followups]
    if not followups or len(set(kinds)) != len(kinds):
        # Never today (a decision is always owed; one follow-up of each kind): the
        # statement could not match entries to follow-ups, so the ORM does it.
        lead.save()
        return followups_create_for_lead(lead=lead, timeline=timeline)
    lead_fields, followup_fields, event_fields = _insert_fields()
    # Lead: auto_now(_add) stamps set as save() sets them (Field.pre_save).
    params = _db_values(lead, lead_fields)
    for followup in followups:
        followup.assignee_id = lead.owner_id
        params += _db_values(followup, followup_fields)
    events = [
        *timeline,
        *(followup_created_entry(lead=lead, followup=f, policy=policy) for f in followups),
    ]
    for event, followup_kind in zip(events, [None] * len(timeline) + kinds, strict=True):
        params.append(followup_kind)
        params += _db_values(event, event_fields)
    with prepared_cursor() as cursor:
        cursor.execute(_insert_sql(len(followups), len(events)), params)
        rows = cursor.fetchall()
    lead.pk = rows[0][0]
    lead._state.adding, lead._state.db = False, connection.alias
    ids = {kind: pk for _lead_id, pk, kind in rows}
    for followup in followups:
        followup.pk, followup.lead = ids[followup.kind], lead
        followup._state.adding, followup._state.db = False, connection.alias
    return followups


# Field types whose get_db_prep_save returns a value of these exact types, and None,
# unchanged (CharField.to_python, int(), bool()): _db_values skips the call for them.
_PLAIN = {
    "CharField": str,  # and its subclasses (choices), which to_python keeps as they are
    "TextField": str,
    "DateTimeField": datetime,  # aware: PostgreSQL's adapt_datetimefield_value keeps it
    "BooleanField": bool,
    "IntegerField": int,
    "PositiveIntegerField": int,
    "PositiveSmallIntegerField": int,
    "SmallIntegerField": int,
    "BigIntegerField": int,
    "ForeignKey": int,  # to a BigAutoField
}


def _db_values(obj, fields: list) -> list:
    """[field.get_db_prep_save(field.pre_save(obj, add=True)) ...], as Model.save() inserts."""
    db = connections[DEFAULT_DB_ALIAS]  # not through the proxy for each value
    values = []
    for field, plain in fields:
        value = field.pre_save(obj, True)
        if plain is None:
            value = field.get_db_prep_save(value, db)
        elif value is None:
            pass
        elif plain is str:
            if not isinstance(value, str):
                value = field.get_db_prep_save(value, db)
        elif type(value) is not plain or (plain is datetime and value.utcoffset() is None):
            value = field.get_db_prep_save(value, db)
        values.append(value)
    return values


@functools.cache
def _insert_fields():
    """The columns each INSERT writes: the concrete fields but the id (and the lead FKs)."""
    from followups.models import FollowUp

    def fields(model, *leave_out):
        return [
            (f, _plain_type(f))
            for f in model._meta.local_concrete_fields
            if not f.primary_key and f.attname not in leave_out
        ]

    def _plain_type(field):
        kind = field.get_internal_type()
        if kind == "ForeignKey" and field.target_field.get_internal_type() not in {
            "AutoField",
            "BigAutoField",
        }:
            return None
        return _PLAIN.get(kind)

    return (
        fields(Lead),
        fields(FollowUp, "lead_id"),
        fields(LeadEvent, "lead_id", "followup_id"),
    )


@functools.cache
def _insert_sql(followups: int, events: int) -> str:
    """The statement, with $n placeholders (prepared: leadbridge.prepared)."""
    from followups.models import FollowUp

    lead_fields, followup_fields, event_fields = _insert_fields()
    quote = connection.ops.quote_name

    def columns(fields):
        return ", ".join(quote(f.column) for f, _plain in fields)

    def row(fields, *leading):
        return "(" + ", ".join([*leading, *(["%s"] * len(fields))]) + ")"

    lead_table, followup_table, event_table = (
        quote(m._meta.db_table) for m in (Lead, FollowUp, LeadEvent)
    )
    lead_id = "(SELECT id FROM new_lead)"
    # The entry's follow-up: NULL for the lead's own entries (the kind parameter is NULL).
    followup_id = "(SELECT id FROM new_followups WHERE kind = %s)"
    sql = (
        f"WITH new_lead AS (INSERT INTO {lead_table} ({columns(lead_fields)}) "
        f"VALUES {row(lead_fields)} RETURNING id), "
        f"new_followups AS (INSERT INTO {followup_table} (lead_id, {columns(followup_fields)}) "
        f"VALUES {', '.join([row(followup_fields, lead_id)] * followups)} RETURNING id, kind), "
        f"new_events AS (INSERT INTO {event_table} (lead_id, followup_id, {columns(event_fields)}) "
        f"VALUES {', '.join([row(event_fields, lead_id, followup_id)] * events)}) "
        "SELECT new_lead.id, new_followups.id, new_followups.kind "
        "FROM new_lead LEFT JOIN new_followups ON true"
    )
    return numbered(sql)


@transaction.atomic
def lead_merge_into(
    earlier: Lead, new: Lead, *, actor: User | None, now: datetime, source: str
) -> None:
    """Fill the earlier lead's empty contact fields from a duplicate (on_duplicate=merge);
    lead_receive and the bulk intake (integrations.intake) both merge through it."""
    filled = {
        name: getattr(new, name)
        for name in MERGEABLE
        if getattr(new, name) and not getattr(earlier, name)
    }
    if filled:
        Lead.objects.filter(pk=earlier.pk).update(**filled)
        for name, value in filled.items():
            setattr(earlier, name, value)
    LeadEvent.objects.create(
        lead=earlier,
        kind=LeadEvent.Kind.NOTE,
        actor=actor,
        at=now,
        data={"note": "merged duplicate", "source": source, "filled": sorted(filled)},
    )


# --- what sales does with a lead ------------------------------------------------


class LeadChanged(Exception):
    """The lead is no longer in the state the action expected (someone was faster)."""


def _lock(lead: Lead) -> Lead:
    """Re-read the lead under a row lock: two reps acting at once take turns."""
    return Lead.objects.select_for_update().get(pk=lead.pk)


@transaction.atomic
def lead_decide(
    *, lead: Lead, by: User, at: datetime, decision: str, reason: str = "", note: str = ""
) -> Lead:
    """Sales accepts or rejects the lead (PRODUCT.md: structured feedback to marketing).

    Rejected leads leave the funnel and go back to marketing's nurturing list;
    everything still open for them is closed.
    """
    from followups.models import FollowUp
    from followups.services import lead_stage_set
    from integrations.services import webhook_followups_completed, webhook_lead_event

    lead = _lock(lead)
    if lead.decision:
        raise LeadChanged(
            _("Lead %(id)s was already %(decision)s.")
            % {"id": lead.pk, "decision": lead.get_decision_display()}
        )
    if decision == Decision.REJECTED and not reason:
        raise ValueError(_("A rejection needs a reason."))
    if reason == RejectReason.OTHER and not note.strip():
        raise ValueError(_("“Other” needs a note saying why."))
    Lead.objects.filter(pk=lead.pk).update(
        decision=decision,
        decision_reason=reason if decision == Decision.REJECTED else "",
        decision_note=note,
        decided_at=at,
        decided_by=by,
    )
    deciding = FollowUp.objects.filter(
        lead=lead, kind=FollowUp.Kind.DECISION, completed_at__isnull=True
    )
    decided = list(deciding.values_list("pk", flat=True))
    deciding.update(completed_at=at, completed_by=by, outcome=decision, updated_at=at)
    webhook_followups_completed(followup_ids=decided, now=at)
    LeadEvent.objects.create(
        lead=lead,
        kind=LeadEvent.Kind.ACCEPTED if decision == Decision.ACCEPTED else LeadEvent.Kind.REJECTED,
        actor=by,
        at=at,
        data={"reason": reason, "note": note},
    )
    if decision == Decision.REJECTED:
        lead_stage_set(lead=lead, stage=Stage.REJECTED, by=by, at=at, reason=reason)
    webhook_lead_event(event=f"lead.{decision}", lead=lead, now=at)  # outbox row, same transaction
    lead.refresh_from_db()
    return lead


@transaction.atomic
def lead_qualify(
    *, lead: Lead, by: User, at: datetime, next_step: str, due_at: datetime, note: str = ""
):
    """The lead becomes an Interessent with an agreed next step on a date."""
    from followups.deadlines import followup_build, sla_policy_for
    from followups.models import FollowUp
    from followups.services import followup_schedule, lead_stage_set

    lead = _lock(lead)
    if lead.stage != Stage.LEAD:
        raise LeadChanged(
            _("Lead %(id)s is already %(stage)s.")
            % {"id": lead.pk, "stage": lead.get_stage_display()}
        )
    if due_at <= at:
        raise ValueError(_("The next step needs a date in the future."))
    FollowUp.objects.filter(
        lead=lead, kind=FollowUp.Kind.CALLBACK, completed_at__isnull=True
    ).update(completed_at=at, completed_by=by, outcome="qualified", updated_at=at)
    lead_stage_set(lead=lead, stage=Stage.PROSPECT, by=by, at=at, reason=next_step)
    LeadEvent.objects.create(
        lead=lead,
        kind=LeadEvent.Kind.QUALIFIED,
        actor=by,
        at=at,
        data={"next_step": next_step, "due_at": due_at.isoformat(), "note": note},
    )
    return followup_schedule(
        followup_build(
            lead=lead,
            kind=FollowUp.Kind.NEXT_STEP,
            rule="",
            policy=sla_policy_for(lead=lead),
            starts_at=at,
            due_at=due_at,
            next_step=next_step,
            note=note,
        ),
        by=by,
        at=at,
    )


FUNNEL_MOVES = {
    Stage.PROSPECT: {Stage.PRESALES, Stage.LOST},
    Stage.PRESALES: {Stage.SALE, Stage.LOST},
    Stage.SALE: {Stage.AFTERSALES},
    Stage.LEAD: {Stage.DISQUALIFIED, Stage.LOST},
}


@transaction.atomic
def lead_move(*, lead: Lead, by: User, at: datetime, stage: str, reason: str = "") -> Lead:
    """Along the funnel (Pre-Sales, Sale, After-Sales) or out of it (lost, with a reason)."""
    from followups.services import lead_stage_set

    lead = _lock(lead)
    if stage not in FUNNEL_MOVES.get(lead.stage, set()):
        raise LeadChanged(
            _("A lead in %(stage)s cannot move to %(to)s.")
            % {"stage": lead.get_stage_display(), "to": Stage(stage).label}
        )
    if stage in {Stage.LOST, Stage.DISQUALIFIED} and not reason.strip():
        raise ValueError(_("Leaving the funnel needs a reason."))
    lead_stage_set(lead=lead, stage=stage, by=by, at=at, reason=reason)
    return lead


@transaction.atomic
def leads_reassign(*, leads: list[Lead], to: User, by: User, at: datetime) -> int:
    """A team lead hands leads (and their open follow-ups) to another rep of the team."""
    from followups.models import FollowUp
    from integrations.models import Event
    from integrations.services import webhook_lead_event

    moved = 0
    for lead in (
        Lead.objects.select_for_update().filter(pk__in=[lead.pk for lead in leads]).order_by("pk")
    ):
        if lead.owner_id == to.pk:
            continue
        old = lead.owner
        Lead.objects.filter(pk=lead.pk).update(owner=to, team=to.team)
        FollowUp.objects.filter(lead=lead, completed_at__isnull=True).update(
            assignee=to, updated_at=at
        )
        assigned = LeadEvent.objects.create(
            lead=lead,
            kind=LeadEvent.Kind.ASSIGNED,
            actor=by,
            at=at,
            data={
                "from": old.pk if old else None,
                "from_name": str(old or ""),
                "to": to.pk,
                "to_name": str(to),
                "by": "team lead",
            },
        )
        webhook_lead_event(
            event=Event.LEAD_UPDATED, lead=lead, now=at, subject=f"event:{assigned.pk}"
        )
        moved += 1
    return moved


# What PATCH /api/v1/leads/{id}/ may change besides stage and owner: the contact.
CONTACT_FIELDS = (
    "company",
    "contact_name",
    "email",
    "phone",
    "street",
    "postcode",
    "city",
    "country",
    "message",
)


@transaction.atomic
def lead_contact_update(*, lead: Lead, by: User, at: datetime, changes: dict) -> Lead:
    """Correct the contact's details: one timeline entry naming the fields, lead.updated.

    The duplicate key follows the new email, phone or name. Values equal to the
    stored ones are no change: nothing is written for them.
    """
    from integrations.models import Event
    from integrations.services import webhook_lead_event

    unknown = set(changes) - set(CONTACT_FIELDS)
    if unknown:
        raise ValueError(f"not contact fields: {', '.join(sorted(unknown))}")
    lead = _lock(lead)
    changed = {name: value for name, value in changes.items() if getattr(lead, name) != value}
    if not changed:
        return lead
    if changed.get("email") and erased_among([changed["email"]]):
        raise PersonErased  # as intake refuses it: no way round the suppression list
    for name, value in changed.items():
        setattr(lead, name, value)
    lead.dedup_key = lead.compute_dedup_key()
    Lead.objects.filter(pk=lead.pk).update(**changed, dedup_key=lead.dedup_key)
    event = LeadEvent.objects.create(
        lead=lead, kind=LeadEvent.Kind.EDITED, actor=by, at=at, data={"fields": sorted(changed)}
    )
    webhook_lead_event(event=Event.LEAD_UPDATED, lead=lead, now=at, subject=f"event:{event.pk}")
    lead.refresh_from_db()
    return lead


@transaction.atomic
def lead_note_add(*, lead: Lead, by: User, at: datetime, text: str) -> LeadEvent:
    """A free note on the lead's timeline (what the customer said, what was agreed)."""
    text = text.strip()
    if not text:
        raise ValueError("an empty note")
    return LeadEvent.objects.create(
        lead=lead, kind=LeadEvent.Kind.NOTE, actor=by, at=at, data={"note": text[:4000]}
    )
