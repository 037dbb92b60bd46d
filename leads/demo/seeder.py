"""The demo seeder: a reproducible demo company with 90 days of lead history, before and after.

The story the data tells (PRODUCT.md, "The failure it exists to end"):

- Days 90..45 ago, *before*: leads came in and got their follow-ups with
  deadlines, but nobody worked the queue and no sweep ran. About 22 % of the
  material requests went out after roughly three weeks, many others late or
  never; about 8 % of the leads were ever called back; sales seldom decided.
- 45 days ago LeadBridge went live: the team leads closed the dead part of that
  backlog as lost (closing is not contact: on the dashboard those leads stay
  "never called"), and the overdue sweep started.
- *After*: digital material goes out at once, most call-backs happen within the
  SLA, sales accepts or rejects nearly every lead, some leads become prospects
  and sales, a few slip through and get escalated. On the last working day the
  team leads closed what was left of the old leads, so the queues today hold
  only current work, and the demo rep has overdue, due-today and upcoming items.

Every write about a lead goes through the services, in time order: the bulk
intake (leads.intake.leads_receive, a day's leads at a time),
material_dispatch, call_log, lead_decide, lead_qualify, followup_complete,
lead_move and sweep_overdue. Routing, deadlines, milestones, escalations,
reassignments and notifications are what the product itself produced; this
module only decides who does what, and when. Its size (DEMO_LEADS) is what
keeps the first `make run` short: the run time grows with the leads.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections import Counter
from collections.abc import Callable
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.contrib.auth.hashers import make_password
from django.db.models import Case, F, OuterRef, Subquery, Value, When
from django.utils import timezone
from faker import Faker

from accounts.models import Role, RoutingRule, Team, User
from campaigns.models import Campaign, Channel, InfoMaterial, MaterialEmail
from followups.deadlines import calendar_for
from followups.models import Escalation, FollowUp, Notification, SlaPolicy
from followups.services import (
    CallOutcome,
    call_log,
    followup_complete,
    material_dispatch,
    sweep_overdue,
)
from leadbridge.calendar import TZ, BusinessCalendar
from leads.intake import leads_receive
from leads.models import (
    CLOSED_STAGES,
    Decision,
    Lead,
    LeadEvent,
    RejectReason,
    Source,
    Stage,
)
from leads.services import lead_decide, lead_move, lead_qualify

from .arrivals import LeadArrivals
from .story import (
    AFTER_CALL,
    AFTER_DECISION,
    AFTER_PRINTED,
    BACKLOG_REASON,
    BEFORE_CALL,
    BEFORE_DECISION,
    BEFORE_MATERIAL,
    CAMPAIGNS,
    DEMO_LEADS,
    DEMO_PASSWORD,
    DEMO_USERS,
    GO_LIVE_DAYS_AGO,
    HISTORY_DAYS,
    MATERIALS,
    NEXT_STEP_NOTES,
    OFFICE_DAY,
    REJECT_NOTES,
    REPS_PER_TEAM,
    SEED,
    TEAMS,
    CampaignPlan,
    LeadPlan,
    LeadSpec,
    ascii_fold,
)


class DemoSeeder(LeadArrivals):
    """The demo company's 90 days, run in time order through the services."""

    def __init__(self, *, now: datetime, leads: int, out):
        self.now = now
        # Nothing is done at or after this moment: later plans simply have not happened yet.
        self.limit = now - timedelta(minutes=2)
        today = timezone.localdate(now)
        self.today = today
        self.history_start = datetime.combine(today - timedelta(days=HISTORY_DAYS), time(0), TZ)
        self.go_live = datetime.combine(today - timedelta(days=GO_LIVE_DAYS_AGO), time(7), TZ)
        self.n_leads = leads
        self.out = out
        self.rng = random.Random(SEED)
        self.fake = Faker("de_DE")
        self.fake.seed_instance(SEED)
        self.clock = self.history_start
        self._heap: list = []
        self._seq = itertools.count()
        self.plans: dict[int, LeadPlan] = {}
        self.sweeps = 0
        self.final_sweep = None
        self._created: list[tuple[int, datetime]] = []
        self._created_day: date | None = None
        # Only the sweep moves owners: known here without asking before every step.
        self.owners: dict[int, int | None] = {}
        self.pending: Counter[int] = Counter()  # planned, not yet happened, per lead
        self.closed_backlog = 0
        self._decks: dict[str, list[str]] = {}

    # --- the cast ---------------------------------------------------------------

    def run(self) -> None:
        self.password = make_password(DEMO_PASSWORD)  # hashed once: one slow hash, not twenty
        self.teams = self._teams()
        self.users = self._users()
        self.materials = self._materials()
        self._policies()
        self.campaigns = self._campaigns()
        specs = self._specs()
        self.team_leads = {u.team_id: u for u in User.objects.filter(role=Role.MANAGER)}
        self._schedule(self.go_live, self._close_backlog, True)
        for moment in self._sweep_times():
            self._schedule(moment, self._sweep)
        last_working_day = BusinessCalendar.for_region("DE").previous_working_day(self.today)
        self._schedule(datetime.combine(last_working_day, time(15), TZ), self._close_backlog, False)
        # A day's leads go through the bulk intake together, when the first of them
        # arrives: none of them is due before it arrives, so no sweep or action of
        # that day can tell the difference, and _settle_history dates each lead's
        # routing entry at its own intake.
        for _day, batch in itertools.groupby(specs, key=lambda s: timezone.localdate(s.intake_at)):
            batch = list(batch)
            self._run_until(batch[0].intake_at)
            self._receive(batch)
        self._run_until(self.limit)
        self._flush_created_at()
        self.final_sweep = sweep_overdue(now=timezone.now())
        self._settle_history()

    def _teams(self) -> list[Team]:
        teams = []
        for name, region, prefixes in TEAMS:
            team, _created = Team.objects.get_or_create(name=name, defaults={"region": region})
            teams.append(team)
            for prefix in prefixes:
                RoutingRule.objects.get_or_create(
                    team=team,
                    country="DE",
                    postcode_prefix=prefix,
                    channel="",
                    defaults={"priority": 50},
                )
        for country in ("AT", "CH"):
            RoutingRule.objects.get_or_create(
                team=teams[0],
                country=country,
                postcode_prefix="",
                channel="",
                defaults={"priority": 10},
            )
        # Whatever no rule knows (a foreign postcode, none at all) goes to Nord.
        RoutingRule.objects.get_or_create(
            team=teams[2], country="", postcode_prefix="", channel="", defaults={"priority": 1000}
        )
        return teams

    def _user(self, username: str, first: str, last: str, role: str, team: Team | None, **extra):
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@example.com",
                "role": role,
                "team": team,
                "password": self.password,
                "date_joined": self.history_start - timedelta(days=self.rng.randint(30, 900)),
                **extra,
            },
        )
        if not created:
            self.out.write(f"user {username!r} already existed; left as it was")
        return user

    def _users(self) -> dict[str, User]:
        users, self.roster = {}, []
        for username, first, last, role, team_index in DEMO_USERS:
            team = self.teams[team_index] if team_index is not None else None
            extra = {"is_staff": True, "is_superuser": True} if role == Role.ADMIN else {}
            users[username] = self._user(username, first, last, role, team, **extra)
        taken = set(users)
        for index, team in enumerate(self.teams):
            roster = [] if index else [users["manager"], users["rep"]]
            while len(roster) < REPS_PER_TEAM + 1:
                first, last = self.fake.first_name(), self.fake.last_name()
                username = f"{ascii_fold(first)}.{ascii_fold(last)}"
                if username in taken:
                    continue
                taken.add(username)
                role = Role.MANAGER if not roster else Role.REP
                roster.append(self._user(username, first, last, role, team))
            self.roster += roster
        self.roster += [users["marketing"], users["admin"]]
        self.people = {user.pk: user for user in self.roster}
        return users

    def _materials(self) -> dict[str, InfoMaterial]:
        materials = {}
        for key, (title, kind, url, description) in MATERIALS.items():
            materials[key], _created = InfoMaterial.objects.get_or_create(
                title=title, kind=kind, defaults={"url": url, "description": description}
            )
        return materials

    def _policies(self) -> None:
        SlaPolicy.objects.get_or_create(channel="", defaults={"name": "Standard"})
        # Fairs: scans arrive in bulk; catalogues and the first call get a day more.
        SlaPolicy.objects.get_or_create(
            channel=Channel.TRADE_FAIR,
            defaults={
                "name": "Messe",
                "callback_due": "2d",
                "material_printed_due": "2d",
                "material_printed_overdue": "3d",
                "decision_due": "2d",
            },
        )

    def _campaigns(self) -> list[tuple[CampaignPlan, Campaign]]:
        result = []
        managers = {u.team_id: u for u in User.objects.filter(role=Role.MANAGER)}
        for plan in CAMPAIGNS:
            starts_on, ends_on = self._campaign_dates(plan)
            if starts_on > self.today:
                status = Campaign.Status.PLANNED
            elif ends_on is not None and ends_on < self.today:
                status = Campaign.Status.ENDED
            else:
                status = Campaign.Status.ACTIVE
            team = self.teams[plan.team] if plan.team is not None else None
            campaign = Campaign.objects.create(
                name=plan.name,
                channel=plan.channel,
                owner=self.users["marketing"],
                status=status,
                starts_on=starts_on,
                ends_on=ends_on,
                budget=Decimal(plan.budget),
                # A plan's response figure is the story's; the leads that come match it.
                expected_responses=(
                    round(plan.expected * self.n_leads / DEMO_LEADS)
                    if plan.share
                    else plan.expected
                ),
                hypothesis=plan.hypothesis,
                team=team,
            )
            campaign.materials.set([self.materials[key] for key in plan.materials])
            launched = datetime.combine(starts_on - timedelta(days=5), time(10), TZ)
            if self.go_live <= launched < self.limit:  # sign-off exists since the go-live
                campaign.signed_off_by = managers.get(
                    team.pk if team else None, self.users["manager"]
                )
                campaign.signed_off_at = launched
                campaign.save(update_fields=["signed_off_by", "signed_off_at"])
            campaign.offered = list(campaign.materials.order_by("pk"))
            result.append((plan, campaign))
        return result

    def _campaign_dates(self, plan: CampaignPlan) -> tuple[date, date | None]:
        starts_on = self.today - timedelta(days=plan.starts)
        if plan.arrivals == "fair":
            # A fair runs Tuesday to Friday of its week (Hannover: Monday to Friday).
            monday = starts_on - timedelta(days=starts_on.weekday())
            first = monday if plan.name == "Hannover Messe" else monday + timedelta(days=1)
            return first, monday + timedelta(days=4)
        ends_on = self.today - timedelta(days=plan.ends) if plan.ends is not None else None
        return starts_on, ends_on

    # --- time ---------------------------------------------------------------------

    def _schedule(self, when: datetime, action: Callable, *args, lead: int | None = None) -> None:
        """Plan an action; one that would happen now or later never happens (still open)."""
        when = max(when, self.clock)
        if when >= self.limit:
            return
        heapq.heappush(self._heap, (when, next(self._seq), action, args, lead))
        self.pending[lead] += 1

    def _run_until(self, moment: datetime) -> None:
        while self._heap and self._heap[0][0] <= moment:
            when, _seq, action, args, lead = heapq.heappop(self._heap)
            self.pending[lead] -= 1
            self.clock = when
            action(when, *args)
        self.clock = max(self.clock, moment)

    def _sweep_times(self) -> list[datetime]:
        """From the go-live on: three times a working day.

        Beat really sweeps every minute. Deadlines fall in office hours, so these
        ticks date escalations within a few hours, at a small part of the cost.
        """
        calendar = BusinessCalendar.for_region("DE")
        day, moments = self.go_live.date(), []
        while day <= self.today:
            if calendar.is_working_day(day):
                moments += [datetime.combine(day, time(hour), TZ) for hour in (8, 12, 16)]
            day += timedelta(days=1)
        return [m for m in moments if self.go_live <= m < self.limit]

    def _sweep(self, at: datetime) -> None:
        report = sweep_overdue(now=at)
        self.sweeps += 1
        if report.reassigned:  # the ladder's last step gave leads to other reps
            self.owners.update(
                Lead.objects.filter(source=Source.DEMO).values_list("pk", "owner_id")
            )

    # --- what happens to a lead ---------------------------------------------------

    def _receive(self, specs: list[LeadSpec]) -> None:
        """Receive a batch through the bulk intake, then plan what happens to each lead."""
        results = leads_receive(
            items=[{**spec.data, "campaign": spec.campaign} for spec in specs],
            source=Source.DEMO,
            now=specs[0].intake_at,
        )
        ids = [result.lead.pk for result in results]
        leads = Lead.objects.select_related("team", "campaign", "requested_material").in_bulk(ids)
        followups: dict[int, dict[str, FollowUp]] = {pk: {} for pk in ids}
        for followup in FollowUp.objects.filter(lead_id__in=ids).select_related("policy"):
            followups[followup.lead_id][followup.kind] = followup
        for spec, pk in zip(specs, ids, strict=True):
            self._note_created_at(pk, spec.intake_at)
            if not spec.keep_open:
                self._plan(leads[pk], followups[pk], spec.intake_at)

    def _plan(self, lead: Lead, followups: dict[str, FollowUp], intake_at: datetime) -> None:
        plan = LeadPlan(
            before=lead.received_at < self.go_live,
            calendar=calendar_for(team=lead.team),
            base=max(lead.received_at, intake_at),
            lead=lead,
        )
        plan.forgotten = not plan.before and self.rng.random() < 0.03
        self.plans[lead.pk] = plan
        self.owners[lead.pk] = lead.owner_id
        for followup in followups.values():
            followup.lead = lead
        material = followups.get(FollowUp.Kind.MATERIAL)
        if material is not None and material.completed_at is not None:
            # Digital material with consent went out at intake (leads.intake); the
            # call-back it booked runs from then.
            plan.material_at = material.completed_at
            self._plan_callback(followups[FollowUp.Kind.CALLBACK], plan, start=plan.material_at)
        elif material is not None:
            self._plan_material(material, plan)
        elif FollowUp.Kind.CALLBACK in followups:
            self._plan_callback(followups[FollowUp.Kind.CALLBACK], plan, start=plan.base)
        self._plan_decision(lead, followups.get(FollowUp.Kind.DECISION), plan)

    def _note_created_at(self, lead_id: int, entered: datetime) -> None:
        """Backdate created_at to when the lead was entered, a day's leads at a time.

        Routing (leads.intake.router) counts a rep's leads of the day by created_at. Today's rows (still
        stamped with the wall clock) count as today; earlier days' rows must carry
        their own date before the next day starts, or capacity would run out.
        """
        day = timezone.localtime(entered).date()
        if self._created_day is not None and day != self._created_day:
            self._flush_created_at()
        self._created_day = day
        self._created.append((lead_id, entered))

    def _flush_created_at(self) -> None:
        if self._created:
            Lead.objects.filter(pk__in=[pk for pk, _at in self._created]).update(
                created_at=Case(*[When(pk=pk, then=Value(at)) for pk, at in self._created])
            )
        self._created = []

    def _minutes(self, plan: LeadPlan, start: datetime, end: datetime) -> int:
        return max(plan.calendar.business_minutes_between(start, end), 0)

    def _draw(self, key: str, outcomes: dict[str, int]) -> str:
        """Like rng.choices, but dealt from a shuffled deck per key.

        The story's shares (22 % after three weeks, 8 % called back...) then
        hold closely for a few hundred leads too, not only on average.
        """
        deck = self._decks.get(key)
        if not deck:
            deck = [outcome for outcome, count in outcomes.items() for _i in range(count)]
            self.rng.shuffle(deck)
            self._decks[key] = deck
        return deck.pop()

    def _plan_material(self, material: FollowUp, plan: LeadPlan) -> None:
        rng, cal, base = self.rng, plan.calendar, plan.base
        printed = material.rule == "material_printed"
        if plan.before:
            outcome = self._draw("material before", BEFORE_MATERIAL)
            if outcome == "three_weeks":  # the field study's three weeks
                at = cal.add_minutes(
                    material.starts_at + timedelta(days=rng.gauss(21, 2)), rng.randint(0, 300)
                )
            elif outcome == "in_time" and printed:
                window = self._minutes(plan, base, material.overdue_at)
                at = cal.add_minutes(base, rng.randint(30, max(31, window - 5)))
            elif outcome == "in_time":  # digital, sent by hand: hours late at best
                at = cal.add_minutes(base, rng.randint(60, 2 * OFFICE_DAY))
            elif outcome == "late":
                at = cal.add_minutes(material.overdue_at, rng.randint(OFFICE_DAY, 10 * OFFICE_DAY))
            else:
                return  # never sent
        elif plan.forgotten:
            return
        elif not printed:  # no consent (a fair scan): a rep sends it, late by design
            at = cal.add_minutes(base, rng.randint(30, 300))
        else:
            due = self._minutes(plan, base, material.due_at)
            overdue = self._minutes(plan, base, material.overdue_at)
            outcome = self._draw("printed after", AFTER_PRINTED)
            if outcome == "by_due":
                at = cal.add_minutes(base, rng.randint(10, max(11, due)))
            elif outcome == "by_overdue":
                at = cal.add_minutes(base, rng.randint(due, max(due + 1, overdue - 5)))
            elif outcome == "late":
                at = cal.add_minutes(material.overdue_at, rng.randint(60, 3 * OFFICE_DAY))
            else:
                return  # still lying on someone's desk
        plan.material_at = at
        self._schedule(at, self._dispatch, material, lead=material.lead_id)

    def _plan_callback(self, callback: FollowUp, plan: LeadPlan, *, start: datetime) -> None:
        """When the calls happen; each is logged on whatever call-back is open by then."""
        rng, cal, lead = self.rng, plan.calendar, plan.lead.pk
        plan.callback = callback
        if plan.forgotten:
            return
        if plan.before:
            # ~8 % of all leads: some never got the material to call after.
            if self._draw("call before", BEFORE_CALL) == "reached":
                at = cal.add_minutes(start, rng.randint(2 * OFFICE_DAY, 12 * OFFICE_DAY))
                self._schedule(at, self._call, lead, CallOutcome.REACHED, lead=lead)
            return
        window = max(self._minutes(plan, start, callback.due_at), 10)
        outcome = self._draw("call after", AFTER_CALL)
        if outcome == "wrong_number":
            at = cal.add_minutes(start, rng.randint(5, window))
            self._schedule(at, self._call, lead, CallOutcome.WRONG_NUMBER, lead=lead)
            return
        if outcome == "in_time":  # most of them early
            at = cal.add_minutes(start, max(3, int(window * min(rng.random(), rng.random()))))
        elif outcome == "late":
            at = cal.add_minutes(callback.due_at, rng.randint(30, 3 * OFFICE_DAY))
        else:  # never reached: tried until the policy gives up and the lead is unreachable
            tried = start
            for _i in range(callback.policy.max_call_attempts):
                tried = cal.add_minutes(tried, rng.randint(60, OFFICE_DAY + 120))
                self._schedule(tried, self._call, lead, CallOutcome.NO_ANSWER, lead=lead)
            return
        for _i in range(rng.choices([0, 1, 2], weights=[70, 22, 8])[0]):
            tried = cal.add_minutes(start, int(self._minutes(plan, start, at) * rng.random()))
            if tried < at:
                self._schedule(tried, self._call, lead, CallOutcome.NO_ANSWER, lead=lead)
        self._schedule(at, self._call, lead, CallOutcome.REACHED, lead=lead)

    def _plan_decision(self, lead: Lead, decision: FollowUp | None, plan: LeadPlan) -> None:
        rng, cal, base = self.rng, plan.calendar, plan.base
        if plan.before:
            plan.decision = self._draw("decision before", BEFORE_DECISION)
            if plan.decision == "reject_late":  # weeks later, usually without a call
                at = cal.add_minutes(base, rng.randint(5 * OFFICE_DAY, 25 * OFFICE_DAY))
                if plan.material_at:  # "we sent them the catalogue, nothing came of it"
                    at = max(at, cal.add_minutes(plan.material_at, OFFICE_DAY))
                reason = self._reason(before=True)
                self._schedule(at, self._decide, lead.pk, Decision.REJECTED, reason, lead=lead.pk)
            elif plan.decision == "accept_late":
                plan.accept_at = cal.add_minutes(base, rng.randint(3 * OFFICE_DAY, 15 * OFFICE_DAY))
                self._schedule(
                    plan.accept_at, self._decide, lead.pk, Decision.ACCEPTED, "", lead=lead.pk
                )
            return
        if plan.forgotten:
            return
        plan.decision = self._draw("decision after", AFTER_DECISION)
        if plan.decision == "accept_review":
            window = self._minutes(plan, base, decision.due_at) if decision else OFFICE_DAY
            minutes = (
                rng.randint(10, max(11, window))
                if rng.random() < 0.9
                else rng.randint(window + 30, window + 2 * OFFICE_DAY)
            )
            plan.accept_at = cal.add_minutes(base, minutes)
            self._schedule(
                plan.accept_at, self._decide, lead.pk, Decision.ACCEPTED, "", lead=lead.pk
            )

    def _reason(self, *, before: bool) -> str:
        reasons = [
            RejectReason.NO_NEED,
            RejectReason.NO_BUDGET,
            RejectReason.WRONG_CONTACT,
            RejectReason.COMPETITOR,
            RejectReason.DUPLICATE,
            RejectReason.OTHER,
        ]
        weights = [4, 2, 2, 1, 1, 2] if before else [5, 3, 2, 2, 1, 1]
        return self.rng.choices(reasons, weights=weights)[0]

    # --- the actions, run in time order ---------------------------------------------

    def _dispatch(self, at: datetime, material: FollowUp) -> None:
        plan = self.plans[material.lead_id]
        if plan.stage in CLOSED_STAGES:  # rejected or closed meanwhile: nothing to send
            return
        lead = self._current(plan)  # the call-back goes to whoever owns the lead now
        callback = material_dispatch(
            followup=material,
            by=self._user_by_pk(lead.owner_id),
            at=at,
            postal=material.rule == "material_printed",
        )
        self._plan_callback(callback, plan, start=at)

    def _call(self, at: datetime, lead_id: int, outcome: str) -> None:
        plan = self.plans[lead_id]
        callback = plan.callback
        if plan.stage != Stage.LEAD or callback is None or callback.completed_at:
            return  # qualified, rejected or closed meanwhile
        callback.lead = self._current(plan)
        booked = call_log(
            followup=callback, by=self._user_by_pk(callback.lead.owner_id), at=at, outcome=outcome
        )
        if outcome == CallOutcome.REACHED:
            self._after_call(at, lead_id)
        elif booked is None:  # wrong number, or out of attempts
            plan.stage = Stage.UNREACHABLE
        else:
            plan.callback = booked  # the next attempt, after the policy's retry time

    def _after_call(self, at: datetime, lead_id: int) -> None:
        rng, plan = self.rng, self.plans[lead_id]
        if plan.decision == "after_call":
            decided = at + timedelta(minutes=rng.randint(3, 25))
            if rng.random() >= (0.6 if plan.before else 0.45):  # the call showed no fit
                reason = self._reason(before=plan.before)
                self._schedule(
                    decided, self._decide, lead_id, Decision.REJECTED, reason, lead=lead_id
                )
                return
            plan.decision, plan.accept_at = "accepted_after_call", decided
            self._schedule(decided, self._decide, lead_id, Decision.ACCEPTED, "", lead=lead_id)
        elif plan.decision not in {"accept_review", "accept_late"}:
            return
        if rng.random() < 0.5:
            agreed = max(at, plan.accept_at) + timedelta(minutes=rng.randint(2, 20))
            self._schedule(agreed, self._qualify, lead_id, lead=lead_id)

    def _decide(self, at: datetime, lead_id: int, decision: str, reason: str) -> None:
        plan = self.plans[lead_id]
        if plan.decided or plan.stage in CLOSED_STAGES:
            return
        lead = self._current(plan)
        lead_decide(
            lead=lead,
            by=self._user_by_pk(lead.owner_id),
            at=at,
            decision=decision,
            reason=reason,
            note=REJECT_NOTES.get(reason, "") if decision == Decision.REJECTED else "",
        )
        plan.decided, plan.accepted = True, decision == Decision.ACCEPTED
        if decision == Decision.REJECTED:
            plan.stage = Stage.REJECTED

    def _qualify(self, at: datetime, lead_id: int) -> None:
        """The call agreed a visit, sample, offer or demo: the lead becomes a prospect."""
        plan = self.plans[lead_id]
        if plan.stage != Stage.LEAD or not plan.accepted:
            return
        rng, cal, lead = self.rng, plan.calendar, self._current(plan)
        day = timezone.localtime(at).date() + timedelta(days=rng.randint(3, 14))
        while not cal.is_working_day(day):
            day += timedelta(days=1)
        due_at = datetime.combine(
            day, rng.choice([time(9), time(10, 30), time(14), time(15, 30)]), TZ
        )
        step = rng.choice(FollowUp.NextStep.values)
        task = lead_qualify(
            lead=lead,
            by=self._user_by_pk(lead.owner_id),
            at=at,
            next_step=step,
            due_at=due_at,
            note=NEXT_STEP_NOTES[step],
        )
        plan.stage = Stage.PROSPECT
        done = max(at + timedelta(hours=1), due_at - timedelta(minutes=rng.randint(0, 120)))
        self._schedule(done, self._next_step_done, lead_id, task, lead=lead_id)

    def _next_step_done(self, at: datetime, lead_id: int, task: FollowUp) -> None:
        plan = self.plans[lead_id]
        if plan.stage != Stage.PROSPECT:
            return
        rep = self._user_by_pk(self.owners[lead_id])
        followup_complete(followup=task, by=rep, at=at, outcome="done")
        r = self.rng.random()
        if r < 0.5:
            self._move(at, lead_id, Stage.PRESALES)
            later = plan.calendar.add_minutes(
                at + timedelta(days=self.rng.randint(10, 35)), self.rng.randint(0, 300)
            )
            self._schedule(later, self._close_deal, lead_id, lead=lead_id)
        elif r < 0.7:
            self._move(at, lead_id, Stage.LOST, "Kein Projekt in diesem Jahr.")

    def _close_deal(self, at: datetime, lead_id: int) -> None:
        if self.plans[lead_id].stage != Stage.PRESALES:
            return
        r = self.rng.random()
        if r < 0.5:
            self._move(at, lead_id, Stage.SALE)
        elif r < 0.75:
            self._move(at, lead_id, Stage.LOST, "Auftrag ging an einen Wettbewerber.")

    def _move(self, at: datetime, lead_id: int, stage: str, reason: str = "", by=None) -> None:
        plan = self.plans[lead_id]
        lead = self._current(plan)
        by = by or self._user_by_pk(lead.owner_id)
        lead_move(lead=lead, by=by, at=at, stage=stage, reason=reason)
        plan.stage = stage

    def _close_backlog(self, at: datetime, only_idle: bool) -> None:
        """Team leads close pre-go-live leads nobody will work on any more (lost, with why).

        At the go-live: those with nothing left in the story; on the last working
        day: whatever of them is still open. Closing is not contact: these leads
        stay "never called" and their material "never sent" on the dashboard.
        """
        stale = [
            pk
            for pk, plan in self.plans.items()
            if plan.before and plan.stage == Stage.LEAD and not (only_idle and self.pending[pk])
        ]
        still_open = FollowUp.objects.open().filter(lead_id__in=stale)
        for lead_id in sorted(set(still_open.values_list("lead_id", flat=True))):
            team_lead = self.team_leads.get(self.plans[lead_id].lead.team_id)
            self._move(at, lead_id, Stage.LOST, BACKLOG_REASON, by=team_lead)
            self.closed_backlog += 1

    # --- bookkeeping --------------------------------------------------------------

    def _user_by_pk(self, pk: int | None) -> User | None:
        if pk is None:
            return None
        if pk not in self.people:
            self.people[pk] = User.objects.get(pk=pk)
        return self.people[pk]

    def _current(self, plan: LeadPlan) -> Lead:
        """The lead as received, with today's owner: the sweep may have reassigned it."""
        plan.lead.owner_id = self.owners[plan.lead.pk]
        return plan.lead

    def _settle_history(self) -> None:
        """Make the bookkeeping columns tell the same time as the story."""
        demo = Lead.objects.filter(source=Source.DEMO)
        # Routing happened when each lead came in (created_at), not when its day's batch did.
        LeadEvent.objects.filter(
            lead__in=demo, kind=LeadEvent.Kind.ASSIGNED, data__by="routing"
        ).update(at=Subquery(Lead.objects.filter(pk=OuterRef("lead_id")).values("created_at")))
        LeadEvent.objects.filter(lead__in=demo).update(created_at=F("at"))
        FollowUp.objects.filter(lead__in=demo).update(created_at=F("starts_at"))
        # The history's notifications were emailed when they happened and the older
        # ones read; left pending, the worker would mail out 45 days at once. The
        # final sweep's notifications stay pending for the worker, as in real life.
        mine = Notification.objects.filter(recipient__in=self.roster)
        mine.filter(created_at__lt=self.limit).update(
            email_state=Notification.EmailState.SENT, emailed_at=F("created_at")
        )
        mine.filter(created_at__lt=self.limit - timedelta(days=1)).update(
            read_at=F("created_at") + timedelta(hours=3)
        )
        # Likewise the digital material of the history went out when it was dispatched.
        MaterialEmail.objects.filter(lead__in=demo, created_at__lt=self.limit).update(
            state=MaterialEmail.State.SENT, sent_at=F("created_at")
        )

    # --- report -------------------------------------------------------------------

    def summary(self, *, seconds: float) -> None:
        now = timezone.now()
        demo = Lead.objects.filter(source=Source.DEMO)
        followups = FollowUp.objects.filter(lead__in=demo)
        mine = FollowUp.objects.open().filter(assignee=self.users["rep"])
        end_of_today = datetime.combine(timezone.localdate(now), time.max, TZ)
        write = self.out.write
        write(
            f"demo data created in {seconds:.1f} s; log in as marketing, rep, manager or admin "
            f"with the password {DEMO_PASSWORD}"
        )
        write(
            f"users {User.objects.count()}, teams {Team.objects.count()}, "
            f"campaigns {Campaign.objects.count()}, leads {demo.count()} "
            f"({demo.filter(requests_material=True).count()} asked for material, "
            f"{self.closed_backlog} pre-go-live leads closed as lost)"
        )
        write(
            f"follow-ups {followups.count()} ({followups.open().count()} open, "
            f"{followups.overdue(now).count()} overdue now), escalations "
            f"{Escalation.objects.filter(followup__lead__in=demo).count()}, notifications "
            f"{Notification.objects.filter(recipient__in=self.roster).count()}; "
            f"{self.sweeps} sweeps since the go-live, the last one: {self.final_sweep}"
        )
        write(
            f"the rep's queue: {mine.overdue(now).count()} overdue, "
            f"{mine.filter(overdue_at__gt=now, due_at__lte=end_of_today).count()} due today, "
            f"{mine.filter(due_at__gt=end_of_today).count()} upcoming"
        )
