"""Follow-ups' deadlines: the SLA policy and calendar of a lead, and its initial follow-ups.

The queue actions (followups.services) and the intake paths build follow-ups here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from accounts.models import Team
from campaigns.models import Channel
from leadbridge import lookups
from leadbridge.calendar import BusinessCalendar, BusinessDuration
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
