"""Handoff SLA figures: each defined once here, as a filter on leads.

The dashboard tiles, the breakdown tables, the drill-down lists and the
reference tests all use METRICS, so a figure and the leads behind it can never
disagree. Times are business minutes since received_at, recorded once by the
services (Lead.material_minutes, Lead.first_contact_minutes).
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

from leads.models import CLOSED_STAGES, RECEIVED_FLOOR, Lead, Stage

from .models import FollowUp


def _open_overdue(kind: str | None = None, *, now: datetime):
    followups = FollowUp.objects.filter(
        lead=OuterRef("pk"), completed_at__isnull=True, overdue_at__lte=now
    )
    if kind:
        followups = followups.filter(kind=kind)
    return Exists(followups)


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    definition: str

    def q(self, now: datetime) -> Q:
        return METRIC_FILTERS[self.key](now)


METRIC_FILTERS = {
    "leads": lambda now: Q(),
    "material_requested": lambda now: Q(requests_material=True),
    "material_on_time": lambda now: Q(requests_material=True, material_on_time=True),
    "material_late": lambda now: (
        Q(requests_material=True)
        & (
            Q(material_on_time=False)
            | Q(material_sent_at__isnull=True) & _open_overdue(FollowUp.Kind.MATERIAL, now=now)
        )
    ),
    "material_pending": lambda now: (
        Q(requests_material=True, material_sent_at__isnull=True)
        & ~_open_overdue(FollowUp.Kind.MATERIAL, now=now)
    ),
    "contacted": lambda now: Q(first_contact_at__isnull=False),
    "reached": lambda now: Q(reached_at__isnull=False),
    "never_contacted": lambda now: Q(first_contact_at__isnull=True),
    "decided": lambda now: ~Q(decision=""),
    "accepted": lambda now: Q(decision="accepted"),
    "rejected": lambda now: Q(decision="rejected"),
    "overdue_now": lambda now: _open_overdue(now=now),
}

METRICS = {
    m.key: m
    for m in [
        Metric("leads", _("Leads received"), _("Leads received in the period.")),
        Metric(
            "material_requested", _("Material requested"), _("Leads that asked for info material.")
        ),
        Metric(
            "material_on_time",
            _("Material on time"),
            _("Material sent no later than its overdue point (business time from receipt)."),
        ),
        Metric(
            "material_late",
            _("Material late"),
            _("Material sent after its overdue point, or not sent and overdue now."),
        ),
        Metric(
            "material_pending", _("Material not yet due"), _("Not sent yet and not overdue yet.")
        ),
        Metric("contacted", _("Called"), _("Leads with at least one call attempt.")),
        Metric(
            "reached", _("Reached by phone"), _("Leads with at least one call that reached them.")
        ),
        Metric(
            "never_contacted", _("Never contacted"), _("Leads without any call attempt so far.")
        ),
        Metric("decided", _("Decided by sales"), _("Leads sales accepted or rejected.")),
        Metric("accepted", _("Accepted"), _("Leads sales accepted.")),
        Metric("rejected", _("Rejected"), _("Leads sales rejected, with a reason.")),
        Metric(
            "overdue_now",
            _("Overdue now"),
            _("Leads with an open follow-up past its overdue point now."),
        ),
    ]
}

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


# Figures that depend on an open follow-up being overdue *now* are counted from
# the follow-up side — one grouped query over the open, overdue rows (a partial
# index) — instead of an EXISTS per lead; the rest are column filters on Lead.
_NOW_DEPENDENT = ("material_late", "material_pending", "overdue_now")


def lead_aggregates(now: datetime) -> dict:
    # Prefixed: some metric names are also Lead columns (material_on_time).
    aggregates = {
        f"n_{key}": Count("pk", filter=metric.q(now))
        for key, metric in METRICS.items()
        if key not in _NOW_DEPENDENT
    }
    aggregates["n_material_sent_late"] = Count(
        "pk", filter=Q(requests_material=True, material_on_time=False)
    )
    aggregates["n_material_unsent"] = Count(
        "pk", filter=Q(requests_material=True, material_sent_at__isnull=True)
    )
    return aggregates


def overdue_followups(now: datetime) -> QuerySet:
    """The open follow-ups past their overdue point: "overdue now" and late unsent material."""
    return FollowUp.objects.filter(completed_at__isnull=True, overdue_at__lte=now)


# Over overdue_followups(): leads whose material is overdue and unsent, and leads with anything overdue.
OVERDUE_AGGREGATES = {
    "material": Count(
        "lead", filter=Q(kind=FollowUp.Kind.MATERIAL, lead__requests_material=True), distinct=True
    ),
    "any": Count("lead", distinct=True),
}


def _overdue(*, leads: QuerySet, now: datetime, group=None) -> dict:
    """{group key: (leads with material overdue and unsent, leads with anything overdue)}."""
    rows = overdue_followups(now).filter(lead__in=leads)
    aggregates = OVERDUE_AGGREGATES
    if group is None:
        row = rows.aggregate(**aggregates)
        return {None: (row["material"], row["any"])}
    return {
        row["key"]: (row["material"], row["any"])
        for row in rows.annotate(key=group).values("key").annotate(**aggregates).order_by()
    }


def figure_counts(row: dict, overdue: tuple[int, int] = (0, 0)) -> dict[str, int]:
    counts = {key: row[f"n_{key}"] for key in METRICS if key not in _NOW_DEPENDENT}
    material_overdue, any_overdue = overdue
    counts["material_late"] = row["n_material_sent_late"] + material_overdue
    counts["material_pending"] = row["n_material_unsent"] - material_overdue
    counts["overdue_now"] = any_overdue
    return {key: counts[key] for key in METRICS}


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


def handoff_figures(*, leads: QuerySet, now: datetime) -> Figures:
    overdue = _overdue(leads=leads, now=now)[None]
    return Figures(
        counts=figure_counts(leads.aggregate(**lead_aggregates(now)), overdue),
        durations=_durations(leads),
    )


# Columns Lead and the rollup tables share (see Slice).
BREAKDOWNS = {
    "rep": ("owner_id", _("Rep")),
    "team": ("team_id", _("Team")),
    "campaign": ("campaign_id", _("Campaign")),
    "channel": ("channel", _("Channel")),
}


def breakdown(*, leads: QuerySet, now: datetime, by: str) -> list[tuple[object, Figures]]:
    """The same figures per rep, team, campaign or channel, largest group first."""
    field, _label = BREAKDOWNS[by]
    rows = leads.values(field).annotate(**lead_aggregates(now)).order_by("-n_leads")
    overdue = _overdue(leads=leads, now=now, group=F(f"lead__{field}"))
    durations = _durations(leads, group=field)
    empty = {f: {"median": None, "p90": None} for f in DURATIONS}
    result = []
    for row in rows:
        key = row[field]
        result.append(
            (
                key,
                Figures(
                    counts=figure_counts(row, overdue.get(key, (0, 0))),
                    durations={**empty, **durations.get(key, {})},
                ),
            )
        )
    return result


def weekly(
    *, leads: QuerySet, now: datetime, start: date | None, end: date | None
) -> list[tuple[date, Figures]]:
    """Figures per week of receipt (Monday), oldest first: the before/after of the handoff."""
    if start and end:
        leads = leads.filter(
            received_at__gte=period_bounds(start, end)[0],
            received_at__lt=period_bounds(start, end)[1],
        )
    rows = (
        leads.annotate(week=TruncWeek("received_at"))
        .values("week")
        .annotate(**lead_aggregates(now))
        .order_by("week")
    )
    overdue = _overdue(leads=leads, now=now, group=TruncWeek("lead__received_at"))
    return [
        (
            row["week"].date(),
            Figures(counts=figure_counts(row, overdue.get(row["week"], (0, 0))), durations={}),
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


def ageing_aggregates(now: datetime) -> dict:
    """Over open follow-ups: b<i> counts those in AGEING_BUCKETS[i] at `now`."""
    buckets = {}
    for index, (_label, low, high) in enumerate(AGEING_BUCKETS):
        condition = Q()
        if low is None:
            condition &= Q(overdue_at__gt=now)
        else:
            condition &= Q(overdue_at__lte=now - timedelta(days=low))
            if low == 0:
                condition &= Q(overdue_at__lte=now)
        if high is not None and low is not None:
            condition &= Q(overdue_at__gt=now - timedelta(days=high))
        buckets[f"b{index}"] = Count("pk", filter=condition)
    return buckets


FUNNEL = [Stage.LEAD, Stage.PROSPECT, Stage.PRESALES, Stage.SALE, Stage.AFTERSALES]


# Leads per stage, as columns (n_stage_<stage>): the funnel's input, live and in the rollup.
STAGE_AGGREGATES = {f"n_stage_{stage}": Count("pk", filter=Q(stage=stage)) for stage in Stage}


def funnel(*, leads: QuerySet) -> list[tuple[str, int]]:
    """How many leads reached each stage (a sale has passed through prospect and pre-sales)."""
    return funnel_from(leads.aggregate(**STAGE_AGGREGATES))


def funnel_from(row: dict[str, int]) -> list[tuple[str, int]]:
    by_stage = {stage: row[f"n_stage_{stage}"] or 0 for stage in Stage}
    reached = []
    for index, stage in enumerate(FUNNEL):
        reached.append((str(stage.label), sum(by_stage.get(s, 0) for s in FUNNEL[index:])))
    exits = [(str(Stage(s).label), by_stage.get(s, 0)) for s in CLOSED_STAGES]
    return reached + sorted(exits)


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

    Lead.objects.visible_to() then scope(); tests/followups/test_dashboard_rollup.py
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
    """The dashboard's reads computed from the leads themselves (followups/rollup.py has the same
    methods over the rollup). The rollup is checked against these; the dashboard uses them only
    until the rollup's first refresh."""

    def __init__(self, now: datetime):
        self.now = now

    def handoff_figures(self, part: Slice) -> Figures:
        return handoff_figures(leads=part.leads(), now=self.now)

    def breakdown(self, part: Slice, *, by: str) -> list[tuple[object, Figures]]:
        return breakdown(leads=part.leads(), now=self.now, by=by)

    def weekly(self, part: Slice) -> list[tuple[date, Figures]]:
        return weekly(leads=part.leads(), now=self.now, start=None, end=None)

    def ageing(self, part: Slice) -> list[tuple[str, int]]:
        return ageing(leads=part.with_period(None, None).leads(), now=self.now)

    def funnel(self, part: Slice) -> list[tuple[str, int]]:
        return funnel(leads=part.leads())
