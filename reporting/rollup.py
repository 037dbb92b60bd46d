"""The manager dashboard's rollup: the figures of reporting/metrics.py, pre-counted.

Live, the dashboard aggregates every lead of the period (about 3 s at 200k
leads); from the rollup it sums a few thousand rows. Nothing here defines a
figure: the refresh stores the counts of figures.lead_aggregates(),
figures.OVERDUE_AGGREGATES, figures.unsent_material_3w() and metrics.ageing_aggregates() per cell, and the
reads turn sums of them into Figures with figures.figure_counts(), the same
function the live computation uses. tests/reporting/test_dashboard_rollup.py
checks rollup == live for every role, tile, table and chart.

Freshness: the beat task `refresh_dashboard_rollup_task` runs every minute.
- Lead counts and duration histograms (DashboardCell, DashboardMinutes) are
  recomputed for the local days whose leads changed since the last refresh:
  a trigger on leads_lead (migration 0008) records old and new received_at of
  every inserted, updated or deleted lead in DashboardDirty.
- What depends on the clock ("overdue now", late unsent material, ageing) is a
  snapshot as of the refresh (DashboardOverdue, DashboardAgeing), rebuilt whole
  each time from the open follow-ups (a partial index; bounded by the backlog).
The page shows DashboardRollupState.refreshed_at, the `now` of the snapshot.
"""

from __future__ import annotations

import math
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import numpy as np
from django.db import connection, transaction
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncDate, TruncWeek
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from followups import figures
from followups.models import FollowUp
from leads.models import Lead

from . import metrics
from .models import (
    DashboardAgeing,
    DashboardCell,
    DashboardDirty,
    DashboardMinutes,
    DashboardOverdue,
    DashboardRollupState,
)

KEY = ("team_id", "owner_id", "campaign_id", "channel")  # besides the day; columns of Lead too
# The figures' counts (figures.lead_aggregates); the n_stage_* columns are the funnel's.
CELL_COUNTS = [
    f.name
    for f in DashboardCell._meta.fields
    if f.name.startswith("n_") and f.name not in figures.STAGE_AGGREGATES
]
PACKED = np.dtype("<i4")  # DashboardMinutes.values: little-endian int32, whatever the machine


# --- refresh ------------------------------------------------------------------


def dashboard_rollup_refresh(*, now: datetime, full: bool = False) -> str:
    """Bring the rollup up to date as of `now`. One transaction, so readers see the old or the new.

    Steps:
    1. Take the state row FOR UPDATE SKIP LOCKED: a second refresh running at the
       same time (a doubled beat tick) returns at once instead of doing it twice.
    2. Claim the receipt times the trigger recorded (DELETE … RETURNING; rows
       written meanwhile stay for the next run).
    3. Recompute the cells and histograms of their local days (all days if `full`
       or never built).
    4. Rebuild the overdue and ageing snapshots as of `now`; record `now`.
    """
    DashboardRollupState.objects.get_or_create(pk=1)
    with transaction.atomic():
        state = (
            DashboardRollupState.objects.select_for_update(skip_locked=True).filter(pk=1).first()
        )
        if state is None:
            return "skipped: another refresh is running"
        full = full or state.rebuilt_at is None
        if connection.vendor == "postgresql":
            # These are large one-off aggregates: compiling them (JIT) costs more than it saves.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL jit = off")
        dirty = _claim_dirty()
        if full:
            DashboardCell.objects.all().delete()
            DashboardMinutes.objects.all().delete()
            _insert_lead_rows(Lead.objects.all(), now=now)
            days_report = "all days"
        else:
            days = sorted({timezone.localtime(at).date() for at in dirty})
            if days:
                DashboardCell.objects.filter(day__in=days).delete()
                DashboardMinutes.objects.filter(day__in=days).delete()
                _insert_lead_rows(Lead.objects.filter(_days_q(days)), now=now)
            days_report = f"{len(days)} day(s)"
        _rebuild_snapshots(now=now)
        state.refreshed_at = now
        if full:
            state.rebuilt_at = now
        state.save()
    return f"rollup refreshed as of {now.isoformat()}: {days_report} recomputed, {len(dirty)} change(s)"


def _claim_dirty() -> list[datetime]:
    """Delete the recorded receipt times and return exactly those deleted.

    DELETE … RETURNING, not a read then a delete: a lead written in between
    would lose its mark without being recomputed. Whatever commits later stays
    for the next run; whatever was claimed committed before, so the recompute
    that follows in this transaction sees it.
    """
    table = connection.ops.quote_name(DashboardDirty._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} RETURNING received_at")
        claimed = [at for (at,) in cursor.fetchall()]
    # SQLite hands back the stored UTC value, naive (or as text).
    claimed = [parse_datetime(at) if isinstance(at, str) else at for at in claimed]
    return [at.replace(tzinfo=UTC) if timezone.is_naive(at) else at for at in claimed]


def _days_q(days: list[date]) -> Q:
    """received_at within any of these local days, as one range per run of consecutive days."""
    q = Q()
    runs: list[list[date]] = []
    for day in days:
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1][1] = day
        else:
            runs.append([day, day])
    for start, end in runs:
        low, high = metrics.period_bounds(start, end)
        q |= Q(received_at__gte=low, received_at__lt=high)
    return q


def _insert_select(
    model, columns: list[str], rows: QuerySet, source_columns: list[str] | None = None
) -> None:
    """INSERT INTO model (columns) SELECT source_columns FROM a values() queryset, inside the database.

    Django has no INSERT … SELECT; going through Python would move a million
    rows on a full rebuild. Columns are picked by name from the queryset's SQL.
    """
    sql, params = rows.query.sql_with_params()
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(c) for c in columns)}) "
            f"SELECT {', '.join(quote(c) for c in source_columns or columns)} FROM ({sql}) AS source",
            params,
        )


def _insert_lead_rows(leads: QuerySet, *, now: datetime) -> None:
    leads = leads.annotate(day=TruncDate("received_at"))
    counts = {**figures.lead_aggregates(now), **figures.STAGE_AGGREGATES}
    _insert_select(
        DashboardCell,
        ["day", *KEY, *counts],
        leads.values("day", *KEY).annotate(**counts).order_by(),
    )
    for field in metrics.DURATIONS:
        rows = (
            leads.filter(**{f"{field}__isnull": False}).values_list("day", *KEY, field).order_by()
        )
        packed: dict[tuple, list[int]] = defaultdict(list)
        for *key, minutes in rows.iterator(chunk_size=20_000):
            packed[tuple(key)].append(minutes)
        DashboardMinutes.objects.bulk_create(
            [
                DashboardMinutes(
                    day=key[0],
                    **dict(zip(KEY, key[1:], strict=True)),
                    field=field,
                    values=np.sort(np.asarray(values, dtype=PACKED)).tobytes(),
                )
                for key, values in packed.items()
            ],
            batch_size=2000,
        )


def _rebuild_snapshots(*, now: datetime) -> None:
    DashboardOverdue.objects.all().delete()
    lead_key = {column: F(f"lead__{column}") for column in KEY}
    overdue = (
        FollowUp.objects.overdue(now)
        .annotate(day=TruncDate("lead__received_at"), **{f"k_{c}": e for c, e in lead_key.items()})
        .values("day", *(f"k_{c}" for c in KEY))
        .annotate(
            n_material_overdue=figures.OVERDUE_AGGREGATES["material"],
            n_tasks_overdue=figures.OVERDUE_AGGREGATES["tasks"],
        )
        .order_by()
    )
    # Annotations can't shadow FollowUp columns, hence k_*; renamed by position.
    _insert_select(
        DashboardOverdue,
        ["day", *KEY, "n_material_overdue", "n_tasks_overdue"],
        overdue,
        ["day", *(f"k_{c}" for c in KEY), "n_material_overdue", "n_tasks_overdue"],
    )
    unsent = (
        Lead.objects.filter(figures.unsent_material_3w(now))
        .annotate(day=TruncDate("received_at"))
        .values("day", *KEY)
        .annotate(n_material_unsent_3w=Count("pk"))
        .order_by()
    )
    _insert_select(DashboardOverdue, ["day", *KEY, "n_material_unsent_3w"], unsent)
    DashboardAgeing.objects.all().delete()
    buckets = metrics.ageing_aggregates(now)
    ageing = (
        FollowUp.objects.open()
        .annotate(**{f"k_{c}": e for c, e in lead_key.items()})
        .values(*(f"k_{c}" for c in KEY))
        .annotate(**buckets)
        .order_by()
    )
    rows = []
    for row in ageing:
        for index in range(len(metrics.AGEING_BUCKETS)):
            if row[f"b{index}"]:
                rows.append(
                    DashboardAgeing(
                        bucket=index, n=row[f"b{index}"], **{c: row[f"k_{c}"] for c in KEY}
                    )
                )
    DashboardAgeing.objects.bulk_create(rows, batch_size=2000)


# --- reads ----------------------------------------------------------------------


def as_of() -> datetime | None:
    """The `now` of the figures the rollup holds, or None if it was never refreshed."""
    state = DashboardRollupState.objects.filter(pk=1).values_list("refreshed_at", flat=True).first()
    return state


def _sums(fields: list[str]) -> dict:
    return {f: Coalesce(Sum(f), 0) for f in fields}


def _now_by(part: metrics.Slice, group: str | None, backlog: metrics.Slice) -> dict:
    """{group value: figures.NowCounts} from the snapshot: material counts over the slice,
    overdue tasks over `backlog` (the slice, or the slice over every day of receipt)."""
    result: dict = defaultdict(figures.NowCounts)
    for which, fields in (
        (part, ["n_material_overdue", "n_material_unsent_3w"]),
        (backlog, ["n_tasks_overdue"]),
    ):
        rows = which.apply(DashboardOverdue.objects.all(), day_field="day")
        aggregates = _sums(fields)
        if group is None:
            grouped = [(None, rows.aggregate(**aggregates))]
        else:
            grouped = [(row[group], row) for row in rows.values(group).annotate(**aggregates)]
        for key, row in grouped:
            for name in fields:  # the snapshot's n_<name> is NowCounts.<name>
                setattr(result[key], name.removeprefix("n_"), row[name])
    return result


def _minutes_rows(part: metrics.Slice) -> list[tuple]:
    """(team_id, owner_id, campaign_id, channel, field, packed values) of the slice's cells."""
    rows = part.apply(DashboardMinutes.objects.all(), day_field="day")
    return list(rows.values_list(*KEY, "field", "values"))


def _durations(rows: list[tuple], group: str | None = None) -> dict:
    """Exact median and p90 per duration: {group value: {field: {stat: minutes}}}.

    The values of each group are joined from its cells, numpy.partition puts the
    ranks percentile_cont interpolates between in place (no full sort), and
    metrics.interpolate() does the arithmetic, as in the live computation.
    """
    position = KEY.index(group) if group else None
    chunks: dict[tuple, list] = defaultdict(list)
    for row in rows:
        chunks[(None if position is None else row[position], row[-2])].append(row[-1])
    result: dict = {}
    for (key, field), parts in chunks.items():
        values = np.frombuffer(b"".join(parts), dtype=PACKED)
        count = len(values)
        ranks = sorted(
            {
                rank
                for fraction in metrics.PERCENTILES.values()
                for rank in (math.floor(fraction * (count - 1)), math.ceil(fraction * (count - 1)))
            }
        )
        ordered = np.partition(values, ranks)
        result.setdefault(key, {})[field] = {
            stat: metrics.interpolate(
                lambda rank, ordered=ordered: int(ordered[rank]), count, fraction
            )
            for stat, fraction in metrics.PERCENTILES.items()
        }
    return result


def _empty_durations() -> dict:
    return {field: {stat: None for stat in metrics.PERCENTILES} for field in metrics.DURATIONS}


def handoff_figures(part: metrics.Slice, minutes: list[tuple] | None = None) -> metrics.Figures:
    cells = part.apply(DashboardCell.objects.all(), day_field="day")
    row = cells.aggregate(**_sums(CELL_COUNTS))
    minutes = _minutes_rows(part) if minutes is None else minutes
    durations = {**_empty_durations(), **_durations(minutes).get(None, {})}
    now_counts = _now_by(part, None, backlog=part.with_period(None, None))[None]
    return metrics.Figures(counts=figures.figure_counts(row, now_counts), durations=durations)


def breakdown(
    part: metrics.Slice, *, by: str, minutes: list[tuple] | None = None
) -> list[tuple[object, metrics.Figures]]:
    field, _label = metrics.BREAKDOWNS[by]
    cells = part.apply(DashboardCell.objects.all(), day_field="day")
    rows = [
        row
        for row in cells.values(field).annotate(**_sums(CELL_COUNTS)).order_by("-n_leads")
        if row["n_leads"]
    ]
    now_counts = _now_by(part, field, backlog=part.with_period(None, None))
    # As metrics.breakdown: groups with overdue tasks but no lead in the period come last.
    seen = {row[field] for row in rows}
    rows += [
        {field: key, **dict.fromkeys(CELL_COUNTS, 0)}
        for key, counts in sorted(now_counts.items(), key=lambda item: str(item[0]))
        if key not in seen and counts.tasks_overdue
    ]
    durations = _durations(_minutes_rows(part) if minutes is None else minutes, field)
    return [
        (
            row[field],
            metrics.Figures(
                counts=figures.figure_counts(row, now_counts.get(row[field])),
                durations={**_empty_durations(), **durations.get(row[field], {})},
            ),
        )
        for row in rows
    ]


def weekly(part: metrics.Slice) -> list[tuple[date, metrics.Figures]]:
    cells = part.apply(DashboardCell.objects.all(), day_field="day")
    rows = (
        cells.annotate(week=TruncWeek("day"))
        .values("week")
        .annotate(**_sums(CELL_COUNTS))
        .order_by("week")
    )
    now_counts = {
        row["week"]: figures.NowCounts(
            row["n_material_overdue"], row["n_tasks_overdue"], row["n_material_unsent_3w"]
        )
        for row in part.apply(DashboardOverdue.objects.all(), day_field="day")
        .annotate(week=TruncWeek("day"))
        .values("week")
        .annotate(**_sums(["n_material_overdue", "n_tasks_overdue", "n_material_unsent_3w"]))
        .order_by()
    }
    return [
        (
            row["week"],
            metrics.Figures(
                counts=figures.figure_counts(row, now_counts.get(row["week"])), durations={}
            ),
        )
        for row in rows
        if row["n_leads"]
    ]


def ageing(part: metrics.Slice) -> list[tuple[str, int]]:
    """Open follow-ups of the slice's leads, any day of receipt (like metrics.ageing)."""
    rows = part.with_period(None, None).apply(DashboardAgeing.objects.all())
    counts = dict(rows.values_list("bucket").annotate(n=Sum("n")).order_by())
    return [
        (str(label), counts.get(index, 0))
        for index, (label, _l, _h) in enumerate(metrics.AGEING_BUCKETS)
    ]


def funnel(part: metrics.Slice) -> list[tuple[str, int]]:
    cells = part.apply(DashboardCell.objects.all(), day_field="day")
    return figures.funnel_from(cells.aggregate(**_sums(list(figures.STAGE_AGGREGATES))))


class RollupFigures:
    """The same reads as metrics.LiveFigures, from the rollup, as of `now` (its refreshed_at).

    Keeps the packed minutes of each slice it read: the tiles and the four
    breakdown tables of one page need the same ones.
    """

    def __init__(self, now: datetime):
        self.now = now
        self._minutes: dict[metrics.Slice, list[tuple]] = {}

    def _minutes_of(self, part: metrics.Slice) -> list[tuple]:
        if part not in self._minutes:
            self._minutes[part] = _minutes_rows(part)
        return self._minutes[part]

    def handoff_figures(self, part: metrics.Slice) -> metrics.Figures:
        return handoff_figures(part, self._minutes_of(part))

    def breakdown(self, part: metrics.Slice, *, by: str) -> list[tuple[object, metrics.Figures]]:
        return breakdown(part, by=by, minutes=self._minutes_of(part))

    def weekly(self, part: metrics.Slice) -> list[tuple[date, metrics.Figures]]:
        return weekly(part)

    def ageing(self, part: metrics.Slice) -> list[tuple[str, int]]:
        return ageing(part)

    def funnel(self, part: metrics.Slice) -> list[tuple[str, int]]:
        return funnel(part)


def dashboard_source(*, now: datetime) -> RollupFigures | metrics.LiveFigures:
    """The rollup once it has been refreshed; live figures before (a fresh install, tests)."""
    refreshed_at = as_of()
    return RollupFigures(refreshed_at) if refreshed_at else metrics.LiveFigures(now)
