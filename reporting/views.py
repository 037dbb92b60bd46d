"""The manager dashboard and the leads behind each of its figures (HTML and CSV)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from accounts.models import Team, User
from campaigns.models import Campaign, Channel
from followups.exports import csv_response
from followups.figures import METRICS
from followups.forms import IdField

from . import metrics, rollup
from .forms import DashboardFilterForm


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
        tiles.append(
            {
                "key": key,
                "metric": METRICS[key],
                "value": current.counts[key],
                "delta": current.counts[key] - previous.counts[key],
                "kind": "count",
            }
        )
    for key, (numerator, _d, definition) in metrics.RATES.items():
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
            "tiles": tiles,
            "metrics": METRICS,
            "tables": table_rows,
            "breakdowns": {by: label for by, (_field, label) in metrics.BREAKDOWNS.items()},
            "chart": {
                "weeks": [w.isoformat() for w, _f in weeks],
                "on_time": [
                    None
                    if f.rate("material_on_time_share") is None
                    else round(100 * f.rate("material_on_time_share"), 1)
                    for _w, f in weeks
                ],
                "call_rate": [
                    None if f.rate("call_rate") is None else round(100 * f.rate("call_rate"), 1)
                    for _w, f in weeks
                ],
                "target": round(100 * settings.LEADBRIDGE_SLA_TARGET),
                "ageing": source.ageing(period),
                "funnel": source.funnel(period),
            },
            "teams": _teams_for(request.user),
            "campaigns": Campaign.objects.order_by("-starts_on")[:100],
            "channels": Channel.choices,
            "now": now,
            "as_of": source.now,
            "late": now - source.now > ROLLUP_LATE_AFTER,
        },
    )


def _teams_for(user):
    if user.is_rep or (user.is_manager and user.team_id):
        return Team.objects.filter(pk=user.team_id)
    return Team.objects.all()


def _breakdown_csv(by: str, rows) -> HttpResponse:
    header = [
        str(metrics.BREAKDOWNS[by][1]),
        *[str(m.label) for m in METRICS.values()],
        *[str(r) for r in metrics.RATES],
        "material_hours_median",
        "material_hours_p90",
        "first_contact_hours_median",
        "first_contact_hours_p90",
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


@login_required
def dashboard_leads(request):
    """The leads behind a figure: the same filter as the figure, then CSV if asked."""
    filters = DashboardFilters(request, timezone.now())
    # The moment the dashboard's figures are as of, so "overdue now" lists the leads it counted.
    now = rollup.as_of() or timezone.now()
    metric = METRICS.get(request.GET.get("metric", ""), METRICS["leads"])
    # Every figure, "overdue now" too, counts the period's leads; so does its list.
    leads = filters.in_period(filters.apply(metrics.scope(user=request.user)))
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
                return render(
                    request,
                    "reporting/dashboard_leads.html",
                    {
                        "metric": metric,
                        "leads": [],
                        "total": 0,
                        "filters": filters,
                        "problems": [*filters.problems, problem],
                        "query": request.GET.urlencode(),
                        "now": now,
                    },
                    status=400,
                )
    leads = (
        leads.filter(metric.q(now))
        .select_related("campaign", "owner", "team")
        .order_by("-received_at", "-pk")
    )
    if request.GET.get("export") == "csv":
        header = [
            "id",
            "received_at",
            "company",
            "contact_name",
            "email",
            "phone",
            "campaign",
            "channel",
            "owner",
            "team",
            "stage",
            "material_sent_at",
            "first_contact_at",
            "decision",
            "decision_reason",
        ]
        body = (
            [
                lead.pk,
                timezone.localtime(lead.received_at).isoformat(),
                lead.company,
                lead.contact_name,
                lead.email,
                lead.phone,
                lead.campaign or "",
                lead.channel,
                lead.owner or "",
                lead.team or "",
                lead.stage,
                lead.material_sent_at and timezone.localtime(lead.material_sent_at).isoformat(),
                lead.first_contact_at and timezone.localtime(lead.first_contact_at).isoformat(),
                lead.decision,
                lead.decision_reason,
            ]
            for lead in leads.iterator(chunk_size=2000)
        )
        return csv_response(f"leadbridge-{metric.key}.csv", header, body)
    page = list(leads[:200])
    return render(
        request,
        "reporting/dashboard_leads.html",
        {
            "metric": metric,
            "leads": page,
            "total": leads.count(),
            "filters": filters,
            "problems": filters.problems,
            "query": request.GET.urlencode(),
            "now": now,
        },
    )
