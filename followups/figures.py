"""What each handoff figure means: one definition per figure, as a filter on leads.

The manager dashboard (the reporting app), its rollup, the drill-down lists and
the campaign page all count with these, so a figure and the leads behind it can
never disagree. They live here, below both: campaigns and reporting read them,
and followups knows the follow-ups the "overdue" figures are about. Times are
business minutes since received_at, recorded once by the services
(Lead.material_minutes, Lead.first_contact_minutes).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Exists, Expression, F, OuterRef, Q, QuerySet
from django.utils.translation import gettext_lazy as _

from leads.models import CLOSED_STAGES, Stage

from .models import FollowUp


def _open_overdue(kind: str | None = None, *, now: datetime):
    followups = FollowUp.objects.overdue(now).filter(lead=OuterRef("pk"))
    if kind:
        followups = followups.filter(kind=kind)
    return Exists(followups)


# The field study's figure: 22 % of those who asked for material got it only after
# about 3 weeks. Calendar time, as a prospect waits it.
MATERIAL_WAIT = timedelta(days=21)


def _material_waited(now: datetime) -> Q:
    return Q(requests_material=True) & (
        Q(material_sent_at__gt=F("received_at") + MATERIAL_WAIT)
        | Q(material_sent_at__isnull=True, received_at__lte=now - MATERIAL_WAIT)
    )


@dataclass(frozen=True)
class Metric:
    key: str
    label: str
    definition: str
    # True: counted over all the leads in scope, whatever day they were received
    # (the backlog as it stands now); False: over the leads received in the period.
    backlog: bool = False
    # True: the figure counts the leads' overdue tasks (FollowUp.objects.overdue), not the
    # leads; their list shows the leads, and says how many tasks they hold.
    counts_tasks: bool = False

    def q(self, now: datetime) -> Q:
        return METRIC_FILTERS[self.key](now)

    def count(self, leads: QuerySet, now: datetime) -> int:
        """The figure over these leads (already filtered with q())."""
        if self.counts_tasks:
            return FollowUp.objects.overdue(now).filter(lead__in=leads).count()
        return leads.count()


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
    "material_waited_3w": _material_waited,
    # Whose 3-week outcome is known: sent, or asked for more than 3 weeks ago.
    "material_known_3w": lambda now: (
        Q(requests_material=True)
        & (Q(material_sent_at__isnull=False) | Q(received_at__lte=now - MATERIAL_WAIT))
    ),
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
        # docs/OVERDUE.md: the one meaning of "overdue", shared with the team queue.
        Metric(
            "overdue_now",
            _("Overdue now"),
            _("Open tasks past their deadline now, however long ago their lead came in."),
            backlog=True,
            counts_tasks=True,
        ),
        Metric(
            "material_waited_3w",
            _("Material waited over 3 weeks"),
            _(
                "Material sent more than 3 weeks (21 days) after the request, or not sent "
                "and requested more than 3 weeks ago."
            ),
        ),
        Metric(
            "material_known_3w",
            _("Material requests 3 weeks on"),
            _("Material requests sent already, or made more than 3 weeks ago."),
        ),
    ]
}


# Figures that depend on the clock are counted apart (NOW_AGGREGATES): those about
# overdue follow-ups from the follow-up side — one grouped query over the open,
# overdue rows (a partial index) — instead of an EXISTS per lead; the rest are
# column filters on Lead.
_NOW_DEPENDENT = (
    "material_late",
    "material_pending",
    "overdue_now",
    "material_waited_3w",
    "material_known_3w",
)


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
    aggregates["n_material_sent_after_3w"] = Count(
        "pk", filter=Q(material_sent_at__gt=F("received_at") + MATERIAL_WAIT)
    )
    return aggregates


# Over FollowUp.objects.overdue(now): leads whose material is overdue and unsent, and the tasks.
OVERDUE_AGGREGATES = {
    "material": Count(
        "lead", filter=Q(kind=FollowUp.Kind.MATERIAL, lead__requests_material=True), distinct=True
    ),
    "tasks": Count("pk"),
}


def unsent_material_3w(now: datetime) -> Q:
    """Over leads: material asked for more than 3 weeks ago and still not sent."""
    return Q(
        requests_material=True, material_sent_at__isnull=True, received_at__lte=now - MATERIAL_WAIT
    )


@dataclass
class NowCounts:
    """The clock-dependent counts of a set of leads (see _NOW_DEPENDENT)."""

    material_overdue: int = 0  # leads whose material is overdue and unsent
    tasks_overdue: int = 0  # their open follow-ups past the deadline (the backlog's leads)
    material_unsent_3w: int = 0

    def __add__(self, other: NowCounts) -> NowCounts:
        return NowCounts(
            self.material_overdue + other.material_overdue,
            self.tasks_overdue + other.tasks_overdue,
            self.material_unsent_3w + other.material_unsent_3w,
        )


def now_counts(
    *,
    leads: QuerySet,
    backlog: QuerySet,
    now: datetime,
    group: Callable[[str], Expression] | None = None,
) -> dict:
    """{group key: NowCounts}: material overdue and unsent 3 weeks over `leads`, overdue
    tasks over `backlog` (the same leads, any day of receipt). `group(path)` is the
    grouping expression over a Lead reached by `path` ("" or "lead__"), None for one total.
    """
    result: dict = {}

    def rows(queryset, path: str, aggregates: dict):
        if group is None:
            return [{"key": None, **queryset.aggregate(**aggregates)}]
        return queryset.annotate(key=group(path)).values("key").annotate(**aggregates).order_by()

    overdue = FollowUp.objects.overdue(now)
    for row in rows(
        overdue.filter(lead__in=leads), "lead__", {"m": OVERDUE_AGGREGATES["material"]}
    ):
        result.setdefault(row["key"], NowCounts()).material_overdue = row["m"]
    for row in rows(overdue.filter(lead__in=backlog), "lead__", {"t": OVERDUE_AGGREGATES["tasks"]}):
        result.setdefault(row["key"], NowCounts()).tasks_overdue = row["t"]
    unsent = leads.filter(unsent_material_3w(now))
    for row in rows(unsent, "", {"u": Count("pk")}):
        result.setdefault(row["key"], NowCounts()).material_unsent_3w = row["u"]
    return result


def figure_counts(row: dict, now: NowCounts | None = None) -> dict[str, int]:
    now = now or NowCounts()
    counts = {key: row[f"n_{key}"] for key in METRICS if key not in _NOW_DEPENDENT}
    counts["material_late"] = row["n_material_sent_late"] + now.material_overdue
    counts["material_pending"] = row["n_material_unsent"] - now.material_overdue
    counts["overdue_now"] = now.tasks_overdue
    counts["material_waited_3w"] = row["n_material_sent_after_3w"] + now.material_unsent_3w
    sent = row["n_material_requested"] - row["n_material_unsent"]
    counts["material_known_3w"] = sent + now.material_unsent_3w
    return {key: counts[key] for key in METRICS}


def handoff_counts(
    *, leads: QuerySet, now: datetime, backlog: QuerySet | None = None
) -> dict[str, int]:
    """Every figure of METRICS over these leads, counted live; the backlog figures
    (Metric.backlog) over `backlog`, by default the same leads."""
    backlog = leads if backlog is None else backlog
    counts = now_counts(leads=leads, backlog=backlog, now=now).get(None, NowCounts())
    return figure_counts(leads.aggregate(**lead_aggregates(now)), counts)


FUNNEL = [Stage.LEAD, Stage.PROSPECT, Stage.PRESALES, Stage.SALE, Stage.AFTERSALES]


# Leads per stage, as columns (n_stage_<stage>): the funnel's input, live and in the rollup.
STAGE_AGGREGATES = {f"n_stage_{stage}": Count("pk", filter=Q(stage=stage)) for stage in Stage}


def funnel(*, leads: QuerySet) -> list[tuple[str, int]]:
    """How many leads reached each stage (a sale has passed through prospect and pre-sales)."""
    return funnel_from(leads.aggregate(**STAGE_AGGREGATES))


def funnel_stage_q(stage: str) -> Q:
    """Over leads: those a funnel bar counts (reached `stage`, or left by that exit)."""
    if stage in FUNNEL:
        return Q(stage__in=FUNNEL[FUNNEL.index(stage) :])
    return Q(stage=stage)


def funnel_from(row: dict[str, int]) -> list[tuple[str, int]]:
    by_stage = {stage: row[f"n_stage_{stage}"] or 0 for stage in Stage}
    reached = []
    for index, stage in enumerate(FUNNEL):
        reached.append((str(stage.label), sum(by_stage.get(s, 0) for s in FUNNEL[index:])))
    exits = [(str(Stage(s).label), by_stage.get(s, 0)) for s in CLOSED_STAGES]
    return reached + sorted(exits)
