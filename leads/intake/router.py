"""Which team and which rep a new lead goes to: the one router of every intake path.

Team: the campaign's follow-up team, else the first routing rule that matches
the lead's channel, country and postcode.

Rep: round-robin within the team over present reps, longest-waiting first
(never assigned first, then the oldest last_assigned_at, then pk). Reps under
today's capacity come first; when all are full the lead still gets an owner
(a lead nobody owns is the failure LeadBridge exists to end), and the capacity
warning belongs to campaign planning, not to routing.

Fairness under concurrency: `assign` locks the teams' rows (pk order, so two
batches never deadlock) before it reads the reps, so two leads arriving at once
get two different reps (tests/leads/test_routing_race.py). Call it inside the
transaction that writes the leads.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import F
from django.utils import timezone

from accounts.models import Role, RoutingRule, Team, User

from ..models import Lead


class Router:
    """Team and rep choice for a batch of leads (a batch of one for a single lead)."""

    def __init__(self):
        self._rules: list[RoutingRule] | None = None

    def team_for(self, *, campaign, channel: str, country: str, postcode: str) -> Team | None:
        if campaign is not None and campaign.team_id:
            return campaign.team
        if self._rules is None:
            self._rules = list(RoutingRule.objects.select_related("team"))
        return next(
            (
                rule.team
                for rule in self._rules
                if rule.matches(channel=channel, country=country, postcode=postcode)
            ),
            None,
        )

    def assign(self, leads: list[Lead], *, now: datetime) -> None:
        """Give each lead (with a team, without an owner) its team's next rep, in order."""
        waiting = [lead for lead in leads if lead.team_id and lead.owner_id is None]
        team_ids = sorted({lead.team_id for lead in waiting})
        if not team_ids:
            return
        list(Team.objects.select_for_update().filter(pk__in=team_ids).order_by("pk"))
        # Read under the locks: what the transaction that held one committed counts.
        lines = {pk: _Line(pk, now) for pk in team_ids}
        for lead in waiting:
            lead.owner = lines[lead.team_id].next()
        used = {lead.owner_id for lead in waiting if lead.owner_id}
        if used:
            User.objects.filter(pk__in=used).update(last_assigned_at=now)


class _Line:
    """One team's present reps in the order they wait, read under the team lock."""

    def __init__(self, team_id: int, now: datetime):
        self.reps = list(
            User.objects.filter(
                team_id=team_id, role=Role.REP, is_active=True, is_absent=False
            ).order_by(F("last_assigned_at").asc(nulls_first=True), "pk")
        )
        self.start_of_day = timezone.localtime(now).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        self.today: dict[int, int] = {}

    def _leads_today(self, rep: User) -> int:
        # Counted up to the capacity only (on the owner + created_at index): whether the
        # rep is full is all routing asks, and a busy day holds thousands of leads.
        if rep.pk not in self.today:
            todays = Lead.objects.filter(owner=rep, created_at__gte=self.start_of_day)
            self.today[rep.pk] = todays[: rep.daily_capacity].count()
        return self.today[rep.pk]

    def next(self) -> User | None:
        if not self.reps:
            return None
        rep = next((r for r in self.reps if self._leads_today(r) < r.daily_capacity), self.reps[0])
        self.reps.remove(rep)
        self.reps.append(rep)  # just assigned: last in line
        self.today[rep.pk] = self._leads_today(rep) + 1
        return rep
