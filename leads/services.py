"""Lead intake and routing: every path (web form, import, API, manual, demo) goes through here."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction
from django.db.models import Count, F, Q
from django.utils import timezone

from accounts.models import Role, RoutingRule, Team, User
from campaigns.models import Campaign

from .models import Lead, LeadEvent


def team_for(*, channel: str, country: str, postcode: str, campaign: Campaign | None) -> Team | None:
    """The campaign's follow-up team, else the first matching routing rule."""
    if campaign is not None and campaign.team_id:
        return campaign.team
    for rule in RoutingRule.objects.select_related("team"):
        if rule.matches(channel=channel, country=country, postcode=postcode):
            return rule.team
    return None


def rep_for(*, team: Team | None, now: datetime) -> User | None:
    """Round-robin within the team: present reps under today's capacity, longest-waiting first."""
    if team is None:
        return None
    # Lock the team row: two leads arriving at once get two different reps.
    Team.objects.select_for_update().filter(pk=team.pk).first()
    start_of_day = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    reps = (
        User.objects.filter(team=team, role=Role.REP, is_active=True, is_absent=False)
        .annotate(today=Count("leads", filter=Q(leads__created_at__gte=start_of_day)))
        .filter(today__lt=F("daily_capacity"))
        .order_by(F("last_assigned_at").asc(nulls_first=True), "pk")
    )
    rep = reps.first()
    if rep is None:
        return None
    User.objects.filter(pk=rep.pk).update(last_assigned_at=now)
    return rep


@dataclass
class Intake:
    lead: Lead
    created: bool


def lead_receive(
    *,
    data: dict,
    source: str,
    now: datetime,
    actor: User | None = None,
    campaign: Campaign | None = None,
    assign: bool = True,
) -> Intake:
    """Create a lead with its follow-ups, or return the one already received.

    `data` holds Lead fields (received_at defaults to now). A repeat of the same
    campaign + external_id returns the existing lead (created=False), also when
    two requests race: the unique constraint decides, the loser reads the winner.
    """
    from followups.services import followups_create_for_lead

    fields = dict(data)
    fields.setdefault("received_at", now)
    external_id = fields.get("external_id", "")
    if external_id:
        existing = Lead.objects.filter(campaign=campaign, external_id=external_id).first()
        if existing:
            return Intake(existing, False)
    lead = Lead(campaign=campaign, source=source, **fields)
    if campaign is not None:
        lead.channel = lead.channel or campaign.channel
        if lead.requests_material and lead.requested_material_id is None:
            lead.requested_material = campaign.materials.order_by("pk").first()
    lead.dedup_key = lead.compute_dedup_key()
    try:
        with transaction.atomic():
            if assign:
                lead.team = team_for(
                    channel=lead.channel, country=lead.country, postcode=lead.postcode, campaign=campaign
                )
                lead.owner = rep_for(team=lead.team, now=now)
            lead.save()
            LeadEvent.objects.create(
                lead=lead,
                kind=LeadEvent.Kind.RECEIVED,
                actor=actor,
                at=lead.received_at,
                data={"source": source, "campaign": campaign.name if campaign else None},
            )
            if lead.owner_id:
                LeadEvent.objects.create(
                    lead=lead,
                    kind=LeadEvent.Kind.ASSIGNED,
                    actor=actor,
                    at=now,
                    data={"to": lead.owner_id, "to_name": str(lead.owner), "team": str(lead.team), "by": "routing"},
                )
            followups_create_for_lead(lead=lead)
    except IntegrityError:
        if not external_id:
            raise
        existing = Lead.objects.filter(campaign=campaign, external_id=external_id).first()
        if existing is None:
            raise
        return Intake(existing, False)
    return Intake(lead, True)

