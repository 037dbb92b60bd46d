"""What sales does with a lead once it is in: decide, qualify, move, reassign, correct.

New leads come in through leads.intake (the one intake pipeline)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils.translation import gettext_lazy as _

from accounts.models import User

from .intake import PersonErased
from .models import Decision, Lead, LeadEvent, RejectReason, Stage


def erased_among(emails) -> set[str]:
    """The given emails whose person was erased: one query for all (bulk and import chunks)."""
    from privacy.services import suppressed_emails

    return suppressed_emails(emails)


def duplicate_of(*, key: str, user: User | None = None) -> Lead | None:
    """The most recent earlier lead with the same identity (Lead.dedup_key); with a
    user, the most recent one among the leads that user may see."""
    leads = Lead.objects.all() if user is None else Lead.objects.visible_to(user)
    return leads.filter(dedup_key=key).order_by("-received_at", "-pk").first()


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
