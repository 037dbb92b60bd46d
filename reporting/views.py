"""The manager dashboard and the leads behind each of its figures (HTML and CSV)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import F, OuterRef, Subquery
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Team, User
from campaigns.models import Campaign, Channel
from followups.exports import csv_response
from followups.figures import METRICS, funnel_stage_q
from followups.forms import IdField
from followups.models import FollowUp
from leads.models import Stage

from . import metrics, rollup
from .forms import DashboardFilterForm, DrillDownForm


class DashboardFilters:
    """Period, team, campaign and channel from the URL, so a view can be shared as a link."""

    def __init__(self, request, now: datetime):
        today = timezone.localdate(now)
        form = DashboardFilterForm(request.GET, today=today)
        valid = form.valid()
        # What the URL gets wrong is left out (the default takes its place) and said so.
        self.problems = form.problems()
        self.end = valid.get("end") or today
        self.start = valid.get("start") or self.end - timedelta(days=29)
        if self.start > self.end:
            self.start, self.end = self.end, self.start
        self.team = str(valid.get("team", ""))
        self.campaign = str(valid.get("campaign", ""))
        self.channel = valid.get("channel", "")
        self.query = urlencode({k: v for k, v in self.as_dict().items() if v})

    def as_dict(self) -> dict:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "team": self.team,
            "campaign": self.campaign,
            "channel": self.channel,
        }

    def conditions(self) -> tuple[tuple[str, object], ...]:
        """The filters as metrics.Slice conditions (columns of Lead and of the rollup)."""
        conditions = []
        if self.team:
            conditions.append(("team_id", int(self.team)))
        if self.campaign:
            conditions.append(("campaign_id", int(self.campaign)))
        if self.channel:
            conditions.append(("channel", self.channel))
        return tuple(conditions)

    def apply(self, leads):
        return metrics.Slice(conditions=self.conditions()).apply(leads)

    def slices(self, user) -> tuple[metrics.Slice, metrics.Slice]:
        """The user's scope with these filters: this period, and the one as long right before it."""
        base = metrics.Slice(conditions=metrics.scope_conditions(user) + self.conditions())
        days = (self.end - self.start).days + 1
        return (
            base.with_period(self.start, self.end),
            base.with_period(self.start - timedelta(days=days), self.start - timedelta(days=1)),
        )

    def in_period(self, leads, start=None, end=None):
        low, high = metrics.period_bounds(start or self.start, end or self.end)
        return leads.filter(received_at__gte=low, received_at__lt=high)


def _labels(by: str, keys) -> dict:
    """Readable names for breakdown keys, fetched in one query per dimension."""
    keys = [k for k in keys if k is not None]
    if by == "rep":
        return {u.pk: str(u) for u in User.objects.filter(pk__in=keys)}
    if by == "team":
        return dict(Team.objects.filter(pk__in=keys).values_list("pk", "name"))
    if by == "campaign":
        return dict(Campaign.objects.filter(pk__in=keys).values_list("pk", "name"))
    return {k: str(Channel(k).label) if k in Channel.values else k for k in keys}


def _hours(minutes):
    return None if minutes is None else round(minutes / 60, 1)


# The counts each breakdown table shows, in its column order (templates/reporting/dashboard.html).
BREAKDOWN_COLUMNS = (
    "leads",
    "material_on_time",
    "material_late",
    "contacted",
    "never_contacted",
    "overdue_now",
    "accepted",
    "rejected",
)

# Past this the page says the figures are late: the beat refresh runs every minute
# and the issue allows figures at most 5 minutes old.
ROLLUP_LATE_AFTER = timedelta(minutes=5)


@login_required
def dashboard(request):
    """Handoff SLA at a glance, with the change against the previous period.

    Figures come from the rollup (reporting/rollup.py), as of its last refresh.
    """
    now = timezone.now()
    filters = DashboardFilters(request, now)
    source = rollup.dashboard_source(now=now)
    period, before = filters.slices(request.user)
    current = source.handoff_figures(period)
    previous = source.handoff_figures(before)
    export = request.GET.get("export", "")
    tables = {}
    for by in metrics.BREAKDOWNS:
        if export and export != by:
            continue
        rows = source.breakdown(period, by=by)
        names = _labels(by, [key for key, _f in rows])
        tables[by] = [(key, names.get(key, "—"), figures) for key, figures in rows]
    if export in tables:
        return _breakdown_csv(export, tables[export])
    # Each count links to its leads; built here, not per cell in the template (an admin's
    # page has hundreds of them).
    leads_url = reverse("reporting:dashboard_leads")
    table_rows = {
        by: [
            (
                name,
                [
                    (
                        figures.counts[m],
                        f"{leads_url}?{filters.query}&{urlencode({'metric': m, 'by': by, 'key': 'none' if key is None else key})}",
                    )
                    for m in BREAKDOWN_COLUMNS
                ],
                figures,
            )
            for key, name, figures in rows
        ]
        for by, rows in tables.items()
    }
    weeks = source.weekly(period.with_period(filters.start - timedelta(weeks=12), filters.end))
    tiles = []
    for key in ("leads", "never_contacted", "overdue_now"):
        backlog = METRICS[key].backlog  # the same now for this period and the one before
        tiles.append(
            {
                "key": key,
                "metric": METRICS[key],
                "value": current.counts[key],
                "delta": None if backlog else current.counts[key] - previous.counts[key],
                "kind": "count",
            }
        )
    for key, (numerator, _d, definition) in metrics.RATES.items():
        if key in metrics.HEADLINE_SHARES:
            continue
        value, before_value = current.rate(key), previous.rate(key)
        tiles.append(
            {
                "key": key,
                "metric": METRICS[numerator],
                "definition": definition,
                "kind": "rate",
                "value": value,
                "delta": None if value is None or before_value is None else value - before_value,
            }
        )
    for field, definition in metrics.DURATIONS.items():
        for stat in metrics.PERCENTILES:
            value, before_value = current.durations[field][stat], previous.durations[field][stat]
            tiles.append(
                {
                    "key": f"{field}_{stat}",
                    "kind": "hours",
                    "definition": definition,
                    "stat": stat,
                    "field": field,
                    "value": _hours(value),
                    "delta": None
                    if value is None or before_value is None
                    else _hours(value - before_value),
                }
            )
    return render(
        request,
        "reporting/dashboard.html",
        {
            "filters": filters,
            "headline": _headline(current, previous, filters),
            "tiles": tiles,
            "metrics": METRICS,
            "tables": table_rows,
            "breakdowns": {by: label for by, (_field, label) in metrics.BREAKDOWNS.items()},
            "chart": _charts(source, period, weeks, filters),
            "teams": _teams_for(request.user),
            "campaigns": Campaign.objects.order_by("-starts_on")[:100],
            "channels": Channel.choices,
            "now": now,
            "as_of": source.now,
            "late": now - source.now > ROLLUP_LATE_AFTER,
        },
    )


def _percent(share: float | None) -> float | None:
    return None if share is None else round(100 * share, 1)


def _drill_url(filters: DashboardFilters, **params) -> str:
    """The drill-down list of these filters, with `params` (metric, start, end, ageing, stage)."""
    query = {**{k: v for k, v in filters.as_dict().items() if v}, **params}
    return f"{reverse('reporting:dashboard_leads')}?{urlencode(query)}"


def _headline(current, previous, filters: DashboardFilters) -> list[dict]:
    """The headline shares, this period against the one before (the before/after)."""
    rows = []
    for key, label in metrics.HEADLINE_SHARES.items():
        numerator, _denominators, definition = metrics.RATES[key]
        value, before = _percent(current.rate(key)), _percent(previous.rate(key))
        rows.append(
            {
                "key": key,
                "label": label,
                "definition": definition,
                "value": value,
                "before": before,
                "delta": None if value is None or before is None else round(value - before, 1),
                "url": _drill_url(filters, metric=numerator),
            }
        )
    return rows


# Each weekly series: the share it draws and the metric its points drill down to
# (the leads that pull the share the wrong way).
TREND_SERIES = {
    "material_waited_3w_share": "material_waited_3w",
    "material_late_share": "material_late",
    "never_called_share": "never_contacted",
    "material_on_time_share": "material_late",
    "call_rate": "never_contacted",
}


def _charts(source, period: metrics.Slice, weeks, filters: DashboardFilters) -> dict:
    """The charts' data and, for every bar and point, the drill-down it opens (static/js/dashboard.js)."""
    week_bounds = [(week, week + timedelta(days=6)) for week, _f in weeks]
    series = {
        key: {
            "values": [_percent(f.rate(key)) for _w, f in weeks],
            "links": [
                _drill_url(filters, metric=metric, start=start.isoformat(), end=end.isoformat())
                for start, end in week_bounds
            ],
        }
        for key, metric in TREND_SERIES.items()
    }
    ageing = source.ageing(period)
    funnel = source.funnel(period)
    stage_of = {str(stage.label): stage.value for stage in Stage}
    return {
        "weeks": [w.isoformat() for w, _f in weeks],
        "series": series,
        "labels": {
            **{key: f"{label} %" for key, label in metrics.HEADLINE_SHARES.items()},
            "material_on_time_share": _("Material on time %"),
            "call_rate": _("Call-back rate %"),
            "target": _("SLA target"),
            "open": _("Open follow-ups"),
            "leads": _("Leads"),
        },
        "target": round(100 * settings.LEADBRIDGE_SLA_TARGET),
        "ageing": ageing,
        "ageing_links": [_drill_url(filters, ageing=index) for index in range(len(ageing))],
        "funnel": funnel,
        "funnel_links": [_drill_url(filters, stage=stage_of[label]) for label, _n in funnel],
    }


def _teams_for(user):
    if user.is_rep or (user.is_manager and user.team_id):
        return Team.objects.filter(pk=user.team_id)
    return Team.objects.all()


# The shares' column names in exports, as the dashboard's tiles name them.
RATE_LABELS = {
    "material_on_time_share": gettext_lazy("Material sent within SLA"),
    "call_rate": gettext_lazy("Call-back rate"),
    "reach_rate": gettext_lazy("Reached by phone"),
    "acceptance_rate": gettext_lazy("Sales acceptance rate"),
    **metrics.HEADLINE_SHARES,
}


def _breakdown_csv(by: str, rows) -> HttpResponse:
    header = [
        str(metrics.BREAKDOWNS[by][1]),
        *[str(m.label) for m in METRICS.values()],
        *[str(RATE_LABELS.get(r, r)) for r in metrics.RATES],
        _("Hours to material, median"),
        _("Hours to material, p90"),
        _("Hours to first contact, median"),
        _("Hours to first contact, p90"),
    ]
    body = []
    for _key, name, f in rows:
        body.append(
            [
                name,
                *[f.counts[k] for k in METRICS],
                *["" if f.rate(r) is None else round(f.rate(r), 4) for r in metrics.RATES],
                *[
                    _hours(f.durations[field][stat])
                    for field in metrics.DURATIONS
                    for stat in ("median", "p90")
                ],
            ]
        )
    return csv_response(f"leadbridge-{by}.csv", header, body)


def _reassign_reps(user) -> list:
    """Reps a team lead (or an admin of a team) may hand leads to: leads.views.reassign's rule."""
    if (user.is_manager or user.is_admin_role) and user.team_id:
        return list(user.team.members.filter(role="rep", is_active=True))
    return []


def _drill_down_page(request, context: dict, status: int = 200):
    return render(
        request,
        "reporting/dashboard_leads.html",
        {
            "leads": [],
            "total": 0,
            "lead_total": 0,
            "query": request.GET.urlencode(),
            "team_reps": _reassign_reps(request.user),
            **context,
        },
        status=status,
    )


@login_required
def dashboard_leads(request):
    """The leads behind a figure, a table row or a chart's bar: the same filter as the
    figure, then CSV if asked. Team leads reassign from here as from the queue."""
    filters = DashboardFilters(request, timezone.now())
    # The moment the dashboard's figures are as of, so "overdue now" lists the leads it counted.
    now = rollup.as_of() or timezone.now()
    metric = METRICS.get(request.GET.get("metric", ""), METRICS["leads"])
    drill = DrillDownForm(request.GET)
    extra = drill.valid()
    problems = [*filters.problems, *drill.problems()]
    leads = filters.apply(metrics.scope(user=request.user))
    # A figure of the period counts the period's leads; a backlog figure (overdue now)
    # and the ageing chart every lead in scope, whenever received: so do their lists.
    if not (metric.backlog or "ageing" in extra):
        leads = filters.in_period(leads)
    if "ageing" in extra:
        leads = leads.filter(metrics.ageing_leads_q(extra["ageing"], now))
    if "stage" in extra:
        leads = leads.filter(funnel_stage_q(extra["stage"]))
    by, key = request.GET.get("by", ""), request.GET.get("key", "")
    if by in metrics.BREAKDOWNS and key:
        field = metrics.BREAKDOWNS[by][0]
        if key == "none":
            leads = leads.filter(**{f"{field}__isnull": True})
        elif by == "channel":
            leads = leads.filter(channel=key)
        else:
            try:
                leads = leads.filter(**{field: IdField(by).clean(key)})
            except ValidationError:
                # A rep, team or campaign is named by its id: "abc" names none of them.
                problem = _("%(by)s: “%(key)s” is not one; the link is broken.") % {
                    "by": metrics.BREAKDOWNS[by][1],
                    "key": key[:40],
                }
                return _drill_down_page(
                    request,
                    {"metric": metric, "filters": filters, "problems": [*problems, problem]},
                    status=400,
                )
    next_due = (
        FollowUp.objects.open().filter(lead=OuterRef("pk")).order_by("due_at").values("due_at")[:1]
    )
    leads = (
        leads.filter(metric.q(now))
        .annotate(next_due_at=Subquery(next_due))
        .select_related("campaign", "owner", "team")
    )
    # The backlog oldest deadline first: the most forgotten lead on top.
    if metric.backlog or "ageing" in extra:
        leads = leads.order_by(F("next_due_at").asc(nulls_last=True), "pk")
    else:
        leads = leads.order_by("-received_at", "-pk")
    if request.GET.get("export") == "csv":
        header = [
            _("ID"),
            _("Received"),
            _("Company"),
            _("Contact person"),
            _("Email"),
            _("Phone"),
            _("Campaign"),
            _("Channel"),
            _("Owner"),
            _("Team"),
            _("Stage"),
            _("Material sent"),
            _("First contact"),
            _("Decision"),
            _("Reason"),
        ]
        body = (
            [
                lead.pk,
                lead.received_at,
                lead.company,
                lead.contact_name,
                lead.email,
                lead.phone,
                lead.campaign or "",
                lead.get_channel_display(),
                lead.owner or "",
                lead.team or "",
                lead.get_stage_display(),
                lead.material_sent_at,
                lead.first_contact_at,
                lead.get_decision_display(),
                lead.get_decision_reason_display(),
            ]
            for lead in leads.iterator(chunk_size=2000)
        )
        return csv_response(f"leadbridge-{metric.key}.csv", header, body)
    page = list(leads[:200])
    for lead in page:
        lead.age_days = (now - lead.received_at).days
    return _drill_down_page(
        request,
        {
            "metric": metric,
            "leads": page,
            "total": metric.count(leads, now),
            "lead_total": leads.count(),
            "filters": filters,
            "problems": problems,
            "ageing": metrics.AGEING_BUCKETS[extra["ageing"]][0] if "ageing" in extra else "",
            "stage": Stage(extra["stage"]).label if "stage" in extra else "",
            "now": now,
        },
    )
