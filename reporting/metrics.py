"""The dashboard's figures, computed live from the leads (reporting/rollup.py pre-counts them).

Each figure is defined once in followups.figures (a filter on leads); here are
what the dashboard adds around them: rates and durations, breakdowns by rep,
team, campaign and channel, weeks, ageing, whose leads a user's dashboard
covers (scope) and the period. The reference tests compare the rollup with
these.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db import connection
from django.db.models import Aggregate, Count, Exists, F, FloatField, OuterRef, Q, QuerySet
from django.db.models.functions import TruncWeek
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from followups import figures
from followups.models import FollowUp
from leads.models import RECEIVED_FLOOR, Lead

RATES = {
    # rate: (numerator, denominator, definition)
    "material_on_time_share": (
        "material_on_time",
        ("material_on_time", "material_late"),
        _("Material on time ÷ (on time + late); not-yet-due material is left out."),
    ),
    "call_rate": ("contacted", ("leads",), _("Leads with a call attempt ÷ leads received.")),
    "reach_rate": ("reached", ("leads",), _("Leads reached by phone ÷ leads received.")),
    "acceptance_rate": ("accepted", ("decided",), _("Accepted ÷ accepted + rejected.")),
    # The headline shares: the failure LeadBridge exists to end, as the field study put it.
    "material_waited_3w_share": (
        "material_waited_3w",
        ("material_known_3w",),
        _(
            "Material requests that waited more than 3 weeks ÷ requests sent already or made "
            "more than 3 weeks ago."
        ),
    ),
    "material_late_share": (
        "material_late",
        ("material_on_time", "material_late"),
        _("Material past its SLA ÷ (on time + late); not-yet-due material is left out."),
    ),
    "never_called_share": (
        "never_contacted",
        ("leads",),
        _("Leads without any call attempt ÷ leads received."),
    ),
}

# The dashboard shows these first, large, with their trend and before/after.
HEADLINE_SHARES = {
    "material_waited_3w_share": _("Material waited more than 3 weeks"),
    "material_late_share": _("Material past its SLA"),
    "never_called_share": _("Never called back"),
}

DURATIONS = {
    "material_minutes": _(
        "Time to material dispatch, business hours from receipt (sent material only)."
    ),
    "first_contact_minutes": _(
        "Time to the first call attempt, business hours from receipt (called leads only)."
    ),
}


class Percentile(Aggregate):
    """PostgreSQL's percentile_cont: linear interpolation between the closest ranks."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression, fraction: float, **extra):
        super().__init__(expression, fraction=fraction, **extra)


def interpolate(value_at, count: int, fraction: float) -> float | None:
    """percentile_cont's definition: linear interpolation between the closest ranks.

    `value_at(rank)` gives the value at a 0-based rank of the sorted values; the
    live computation passes a sorted list's __getitem__, the rollup a lookup in
    its histogram. Same float arithmetic as PostgreSQL's percentile_cont.
    """
    if not count:
        return None
    position = fraction * (count - 1)
    low, high = math.floor(position), math.ceil(position)
    return value_at(low) + (value_at(high) - value_at(low)) * (position - low)


def percentile_cont(values: list[float], fraction: float) -> float | None:
    """The same definition in Python (SQLite has no percentile_cont)."""
    return interpolate(sorted(values).__getitem__, len(values), fraction)


# The two statistics of every duration tile, as the fractions percentile_cont takes.
PERCENTILES = {"median": 0.5, "p90": 0.9}


@dataclass
class Figures:
    counts: dict[str, int]
    durations: dict[str, dict[str, float | None]]  # field -> {"median": m, "p90": m} in minutes

    def rate(self, name: str) -> float | None:
        numerator, denominators, _definition = RATES[name]
        total = sum(self.counts[d] for d in denominators)
        return self.counts[numerator] / total if total else None

    @property
    def rates(self) -> dict[str, float | None]:
        return {name: self.rate(name) for name in RATES}


def _durations(leads: QuerySet, group: str | None = None) -> dict:
    """Median and p90 per duration field, overall or per value of `group`."""
    result: dict = {}
    for field in DURATIONS:
        rows = leads.filter(**{f"{field}__isnull": False})
        if connection.vendor == "postgresql":
            aggregates = {
                stat: Percentile(field, fraction) for stat, fraction in PERCENTILES.items()
            }
            if group is None:
                result[field] = rows.aggregate(**aggregates)
            else:
                for row in rows.values(group).annotate(**aggregates).order_by():
                    result.setdefault(row[group], {})[field] = {
                        stat: row[stat] for stat in PERCENTILES
                    }
        else:
            if group is None:
                values = list(rows.values_list(field, flat=True))
                result[field] = {
                    stat: percentile_cont(values, f) for stat, f in PERCENTILES.items()
                }
            else:
                grouped: dict = {}
                for key, value in rows.values_list(group, field):
                    grouped.setdefault(key, []).append(value)
                for key, values in grouped.items():
                    result.setdefault(key, {})[field] = {
                        stat: percentile_cont(values, f) for stat, f in PERCENTILES.items()
                    }
    return result


def handoff_figures(*, leads: QuerySet, now: datetime, backlog: QuerySet | None = None) -> Figures:
    """The figures of these leads; the backlog ones (overdue now) over `backlog` (default: them)."""
    return Figures(
        counts=figures.handoff_counts(leads=leads, now=now, backlog=backlog),
        durations=_durations(leads),
    )


# Columns Lead and the rollup tables share (see Slice).
BREAKDOWNS = {
    "rep": ("owner_id", _("Rep")),
    "team": ("team_id", _("Team")),
    "campaign": ("campaign_id", _("Campaign")),
    "channel": ("channel", _("Channel")),
}


def breakdown(
    *, leads: QuerySet, now: datetime, by: str, backlog: QuerySet | None = None
) -> list[tuple[object, Figures]]:
    """The same figures per rep, team, campaign or channel, largest group first; a group
    with no lead in the period but overdue tasks in `backlog` comes last, so a rep's
    forgotten leads do not drop off the table."""
    field, _label = BREAKDOWNS[by]
    rows = list(leads.values(field).annotate(**figures.lead_aggregates(now)).order_by("-n_leads"))
    now_counts = figures.now_counts(
        leads=leads,
        backlog=leads if backlog is None else backlog,
        now=now,
        group=lambda path: F(f"{path}{field}"),
    )
    seen = {row[field] for row in rows}
    zero = dict.fromkeys(figures.lead_aggregates(now), 0)
    rows += [
        {field: key, **zero}
        for key, counts in sorted(now_counts.items(), key=lambda item: str(item[0]))
        if key not in seen and counts.tasks_overdue
    ]
    durations = _durations(leads, group=field)
    empty = {f: {"median": None, "p90": None} for f in DURATIONS}
    return [
        (
            row[field],
            Figures(
                counts=figures.figure_counts(row, now_counts.get(row[field])),
                durations={**empty, **durations.get(row[field], {})},
            ),
        )
        for row in rows
    ]


def weekly(
    *, leads: QuerySet, now: datetime, start: date | None, end: date | None
) -> list[tuple[date, Figures]]:
    """Figures per week of receipt (Monday), oldest first: the before/after of the handoff.
    Overdue tasks count in the week their lead was received."""
    if start and end:
        leads = leads.filter(
            received_at__gte=period_bounds(start, end)[0],
            received_at__lt=period_bounds(start, end)[1],
        )
    rows = (
        leads.annotate(week=TruncWeek("received_at"))
        .values("week")
        .annotate(**figures.lead_aggregates(now))
        .order_by("week")
    )
    now_counts = figures.now_counts(
        leads=leads, backlog=leads, now=now, group=lambda path: TruncWeek(f"{path}received_at")
    )
    return [
        (
            row["week"].date(),
            Figures(counts=figures.figure_counts(row, now_counts.get(row["week"])), durations={}),
        )
        for row in rows
    ]


AGEING_BUCKETS = [
    (_("not overdue"), None, 0),
    (_("≤ 1 day late"), 0, 1),
    (_("1–3 days"), 1, 3),
    (_("3–7 days"), 3, 7),
    (_("1–3 weeks"), 7, 21),
    (_("> 3 weeks"), 21, None),
]


def ageing(*, leads: QuerySet, now: datetime) -> list[tuple[str, int]]:
    """Open follow-ups of these leads by how long they are past their overdue point."""
    counts = FollowUp.objects.open().filter(lead__in=leads).aggregate(**ageing_aggregates(now))
    return [(str(label), counts[f"b{i}"]) for i, (label, _low, _high) in enumerate(AGEING_BUCKETS)]


def ageing_condition(index: int, now: datetime) -> Q:
    """Over open follow-ups: those in AGEING_BUCKETS[index] at `now`."""
    _label, low, high = AGEING_BUCKETS[index]
    if low is None:
        return Q(overdue_at__gt=now)
    condition = Q(overdue_at__lte=now - timedelta(days=low))
    if high is not None:
        condition &= Q(overdue_at__gt=now - timedelta(days=high))
    return condition


def ageing_aggregates(now: datetime) -> dict:
    """Over open follow-ups: b<i> counts those in AGEING_BUCKETS[i] at `now`."""
    return {
        f"b{index}": Count("pk", filter=ageing_condition(index, now))
        for index in range(len(AGEING_BUCKETS))
    }


def ageing_leads_q(index: int, now: datetime) -> Q:
    """Over leads: those with an open follow-up in AGEING_BUCKETS[index] (a bar's drill-down)."""
    return Q(
        Exists(FollowUp.objects.open().filter(ageing_condition(index, now), lead=OuterRef("pk")))
    )


def scope(*, user, leads: QuerySet | None = None) -> QuerySet:
    """What a user's dashboard covers: reps their own, team leads their team, others all."""
    leads = Lead.objects.visible_to(user) if leads is None else leads
    if user.is_rep:
        return leads.filter(owner=user)
    if user.is_manager and user.team_id:
        return leads.filter(team_id=user.team_id)
    return leads


def scope_conditions(user) -> tuple[tuple[str, object], ...]:
    """scope() as column conditions the rollup can apply too (team_id, owner_id).

    Lead.objects.visible_to() then scope(); tests/reporting/test_dashboard_rollup.py
    checks both give the same figures for every role.
    """
    conditions: list[tuple[str, object]] = []
    if not (user.is_superuser or user.role in {"admin", "marketing"}):
        conditions.append(
            ("owner_id", user.pk) if user.team_id is None else ("team_id", user.team_id)
        )
    if user.is_rep:
        conditions.append(("owner_id", user.pk))
    elif user.is_manager and user.team_id:
        conditions.append(("team_id", user.team_id))
    return tuple(conditions)


@dataclass(frozen=True)
class Slice:
    """Which leads a dashboard shows: received in [start, end] (local days; None = open) and
    matching every (column, value) condition. Columns are ones Lead and the rollup share:
    team_id, owner_id, campaign_id, channel."""

    start: date | None = None
    end: date | None = None
    conditions: tuple[tuple[str, object], ...] = ()

    def apply(self, rows: QuerySet, day_field: str | None = None) -> QuerySet:
        """Filter leads (by received_at) or rollup rows (by `day_field`) to this slice."""
        for column, value in self.conditions:
            rows = rows.filter(**{column: value})
        if day_field:
            if self.start:
                rows = rows.filter(**{f"{day_field}__gte": self.start})
            if self.end:
                rows = rows.filter(**{f"{day_field}__lte": self.end})
        else:
            if self.start:
                rows = rows.filter(received_at__gte=period_bounds(self.start, self.start)[0])
            if self.end:
                rows = rows.filter(received_at__lt=period_bounds(self.end, self.end)[1])
        return rows

    def leads(self) -> QuerySet:
        return self.apply(Lead.objects.all())

    def with_period(self, start: date | None, end: date | None) -> Slice:
        return Slice(start=start, end=end, conditions=self.conditions)


# The days a dashboard period (web and API) may name. No lead is received before
# RECEIVED_FLOOR, so an earlier day only shows nothing; a year ahead is room for a
# period planned in advance. Past these, the period before it and the 12 weeks of
# the chart would run off the calendar (date.min, date.max: an OverflowError).
PERIOD_DAYS_AHEAD = timedelta(days=366)


def period_day_problem(day: date, *, today: date) -> str | None:
    """Why `day` cannot start or end a dashboard period (a message), or None."""
    if day < RECEIVED_FLOOR:
        return _("Choose a day from %(first)s on: there are no leads before.") % {
            "first": RECEIVED_FLOOR.isoformat()
        }
    if day > today + PERIOD_DAYS_AHEAD:
        return _("Choose a day up to %(last)s.") % {"last": (today + PERIOD_DAYS_AHEAD).isoformat()}
    return None


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, end+1 00:00) in local time."""
    tz = timezone.get_current_timezone()
    return (
        datetime.combine(start, datetime.min.time(), tzinfo=tz),
        datetime.combine(end + timedelta(days=1), datetime.min.time(), tzinfo=tz),
    )


class LiveFigures:
    """The dashboard's reads computed from the leads themselves (reporting/rollup.py has the same
    methods over the rollup). The rollup is checked against these; the dashboard uses them only
    until the rollup's first refresh."""

    def __init__(self, now: datetime):
        self.now = now

    def handoff_figures(self, part: Slice) -> Figures:
        return handoff_figures(
            leads=part.leads(), now=self.now, backlog=part.with_period(None, None).leads()
        )

    def breakdown(self, part: Slice, *, by: str) -> list[tuple[object, Figures]]:
        return breakdown(
            leads=part.leads(), now=self.now, by=by, backlog=part.with_period(None, None).leads()
        )

    def weekly(self, part: Slice) -> list[tuple[date, Figures]]:
        return weekly(leads=part.leads(), now=self.now, start=None, end=None)

    def ageing(self, part: Slice) -> list[tuple[str, int]]:
        return ageing(leads=part.with_period(None, None).leads(), now=self.now)

    def funnel(self, part: Slice) -> list[tuple[str, int]]:
        return figures.funnel(leads=part.leads())
