"""What each handoff figure means: one definition per figure, as a filter on leads.

The manager dashboard (the reporting app), its rollup, the drill-down lists and
the campaign page all count with these, so a figure and the leads behind it can
never disagree. They live here, below both: campaigns and reporting read them,
and followups knows the follow-ups the "overdue" figures are about. Times are
business minutes since received_at, recorded once by the services
(Lead.material_minutes, Lead.first_contact_minutes).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from leads.models import CLOSED_STAGES, Stage

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
        Metric("leads", _("Leads received"), _("Leads whose received_at lies in the period.")),
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


def overdue_counts(*, leads: QuerySet, now: datetime, group=None) -> dict:
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


def handoff_counts(*, leads: QuerySet, now: datetime) -> dict[str, int]:
    """Every figure of METRICS over these leads, counted live."""
    overdue = overdue_counts(leads=leads, now=now)[None]
    return figure_counts(leads.aggregate(**lead_aggregates(now)), overdue)


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
