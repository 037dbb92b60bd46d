from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Exists, Min, OuterRef, Q
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_GET, require_POST

from campaigns.models import Campaign, Channel
from leads.models import Lead, RejectReason

from . import metrics, rollup
from .exports import csv_response
from .forms import (
    CallForm,
    DashboardFilterForm,
    DispatchForm,
    IdField,
    QueryFilterForm,
    QueueFilterForm,
)
from .models import QUEUE_SECTIONS, FollowUp, queue_section_q
from .notifications import notifications_mark_read
from .services import (
    CallOutcome,
    FollowUpAlreadyDone,
    call_log,
    followup_complete,
    material_dispatch,
)

PAGE_SIZE = 25
ROW_CONTEXT = {
    "reject_reasons": RejectReason.choices,
    "next_steps": FollowUp.NextStep.choices,
    "call_details": CallOutcome.DETAILS,
}
SECTIONS = QUEUE_SECTIONS


@dataclass
class LeadRow:
    """One queue row: a lead with its open tasks in the viewer's scope, next due first.

    The queue page loads only the next one and how many more there are (`more`); the
    others come when the rep opens them (lead_tasks), so a page renders 25 rows of
    actions, not every task of 25 leads.
    """

    lead: Lead
    tasks: list[FollowUp]
    more: int | None = None

    @property
    def head(self) -> FollowUp | None:
        return self.tasks[0] if self.tasks else None

    @property
    def others(self) -> list[FollowUp]:
        return self.tasks[1:]

    @property
    def more_count(self) -> int:
        return len(self.others) if self.more is None else self.more


def _queue_scope(request):
    """Whose follow-ups: a rep their own; a team lead the team's (or one rep's); admins all.

    Filters of the task itself (assignee, kind) are on these rows; the lead-level ones
    (team, campaign) travel with the lead, so _heads needs no join for them.
    """
    user = request.user
    if user.is_marketing:
        raise PermissionDenied
    items = FollowUp.objects.open()
    filters = QueueFilterForm(request.GET).valid()
    if user.is_rep:
        items = items.filter(assignee=user)
    else:
        if user.is_manager:
            items = items.filter(lead__team_id=user.team_id)
        if "rep" in filters:
            items = items.filter(assignee_id=filters["rep"])
    if "kind" in filters:
        items = items.filter(kind=filters["kind"])
    if "campaign" in filters:
        items = items.filter(lead__campaign_id=filters["campaign"])
    return items


def _task_scope(request):
    """The follow-up-level part of the scope: what may be a lead's earlier task in heads()."""
    user = request.user
    items = FollowUp.objects.open()
    filters = QueueFilterForm(request.GET).valid()
    if user.is_rep:
        items = items.filter(assignee=user)
    elif "rep" in filters:
        items = items.filter(assignee_id=filters["rep"])
    if "kind" in filters:
        items = items.filter(kind=filters["kind"])
    return items


def _heads(request):
    """Each lead's next due task in scope: the queue lists leads, one row each."""
    return _queue_scope(request).filter(
        ~Exists(
            _task_scope(request).filter(
                Q(due_at__lt=OuterRef("due_at"))
                | Q(due_at=OuterRef("due_at"), id__lt=OuterRef("id")),
                lead_id=OuterRef("lead_id"),
            )
        )
    )


def _filter_query(request) -> str:
    return urlencode(QueueFilterForm(request.GET).valid())


def _section(heads, name: str, now: datetime):
    return heads.in_section(name, now).order_by("due_at", "id")


def _page(items, after: str):
    """Keyset pagination on (due_at, id): cheap on any page, stable while rows change."""
    if after:
        due, _sep, pk = after.rpartition("_")
        try:  # a cursor this page did not write is no cursor: the first page
            due_at = parse_datetime(due)
            due_at = due_at and due_at.tzinfo and due_at.astimezone(UTC)
            pk = int(pk) if pk.isascii() and pk.isdigit() and len(pk) < 20 else None
        except (ValueError, OverflowError):
            due_at = None
        if due_at and pk is not None:
            items = items.filter(Q(due_at__gt=due_at) | Q(due_at=due_at, id__gt=pk))
    items = items.select_related(
        "lead", "lead__campaign", "lead__requested_material", "lead__team", "assignee"
    )
    rows = list(items[: PAGE_SIZE + 1])
    more = rows[PAGE_SIZE].pk if len(rows) > PAGE_SIZE else None
    rows = rows[:PAGE_SIZE]
    cursor = f"{rows[-1].due_at.isoformat()}_{rows[-1].pk}" if more else ""
    return rows, cursor


def _lead_rows(request, heads: list[FollowUp]) -> list[LeadRow]:
    """The page's leads with their next task and how many more (one query for the page)."""
    others = (
        _task_scope(request)
        .filter(lead_id__in={h.lead_id for h in heads})
        .exclude(pk__in=[h.pk for h in heads])
        .values("lead_id")
        .annotate(n=Count("pk"))
        .order_by()
    )
    more = {row["lead_id"]: row["n"] for row in others}
    return [LeadRow(lead=h.lead, tasks=[h], more=more.get(h.lead_id, 0)) for h in heads]


def _seen(counts: dict) -> str:
    """The section counts a page was rendered with; the page's refresh compares against them."""
    return "-".join(str(counts[name]) for name in SECTIONS)


def _team_reps(user):
    """Reps a team lead may reassign to; also switches the tick-box column on in rows."""
    if user.is_manager and user.team_id:
        return list(user.team.members.filter(role="rep", is_active=True))
    return []


def _counts(request, now: datetime) -> dict:
    """Leads per section by their next due time, all three in one pass over the scope."""
    firsts = _queue_scope(request).values("lead_id").annotate(first_due=Min("due_at")).order_by()
    return firsts.aggregate(
        **{
            name: Count("lead_id", filter=queue_section_q(name, now, "first_due"))
            for name in SECTIONS
        }
    )


@login_required
def queue(request):
    """The morning list of leads: overdue (oldest deadline first), due today, then upcoming."""
    now = timezone.now()
    heads = _heads(request)
    section = request.GET.get("section")
    filters = QueueFilterForm(request.GET)
    context = {
        "now": now,
        **ROW_CONTEXT,
        "team_reps": _team_reps(request.user),
        "filter_query": _filter_query(request),
    }
    if request.htmx and request.GET.get("counts"):  # the page's 30-second refresh of its badges
        counts = _counts(request, now)
        changed = request.GET.get("seen", "") != _seen(counts)
        return render(request, "followups/_counts.html", {"counts": counts, "changed": changed})
    if request.htmx and section in SECTIONS:  # "show more" of one section
        page, cursor = _page(_section(heads, section, now), request.GET.get("after", ""))
        rows = _lead_rows(request, page)
        return render(
            request,
            "followups/_queue_page.html",
            {**context, "rows": rows, "cursor": cursor, "name": section},
        )
    sections = []
    for name in SECTIONS:
        page, cursor = _page(_section(heads, name, now), "")
        sections.append({"name": name, "heads": page, "cursor": cursor})
    rows = {
        row.lead.pk: row for row in _lead_rows(request, [h for s in sections for h in s["heads"]])
    }
    counts = _counts(request, now)
    for entry in sections:
        entry["count"] = counts[entry["name"]]
        entry["rows"] = [rows[h.lead_id] for h in entry.pop("heads")]
    return render(
        request,
        "followups/queue.html",
        {
            **context,
            "sections": sections,
            "kinds": FollowUp.Kind.choices,
            "campaigns": Campaign.objects.order_by("-starts_on")[:50],
            "filters": {name: str(value) for name, value in filters.valid().items()},
            "filter_problems": filters.problems(),
            "seen": _seen(counts),
        },
    )


@login_required
@require_GET
def lead_tasks(request, pk: int):
    """A queue row's other open tasks, loaded when the rep opens them (htmx)."""
    if request.user.is_marketing:
        raise PermissionDenied
    lead = get_object_or_404(
        Lead.objects.visible_to(request.user).select_related("requested_material"), pk=pk
    )
    if not request.htmx:
        return redirect("leads:detail", pk=lead.pk)
    tasks = list(
        _task_scope(request).filter(lead=lead).select_related("assignee").order_by("due_at", "id")
    )
    return render(
        request,
        "followups/_more_tasks.html",
        {**ROW_CONTEXT, "row": LeadRow(lead=lead, tasks=tasks), "now": timezone.now()},
    )


def _actionable_followup(request, pk: int) -> FollowUp:
    if request.user.is_marketing:
        raise PermissionDenied(_("Marketing does not log sales actions."))
    visible = FollowUp.objects.filter(lead__in=Lead.objects.visible_to(request.user))
    return get_object_or_404(
        visible.select_related("lead", "lead__team", "lead__requested_material", "policy"), pk=pk
    )


def lead_tasks_response(
    request,
    lead: Lead,
    *,
    acted: FollowUp | None = None,
    message: str = "",
    error: str = "",
    form=None,
    status=200,
    prompt: bool = False,
):
    """After a sales action: the lead's whole row again (queue) or its open follow-ups
    (lead page, `where=lead`), with the message or the form's errors in place, and fresh
    section counts. Every open task of the lead is re-read, so a task the action closed
    (a rejection closes them all) loses its buttons at once. Public: the lead actions
    (leads.views) answer with it too."""
    if not request.htmx:
        if error:
            messages.error(request, error)
        elif message:
            messages.success(request, message)
        return (
            redirect("leads:detail", pk=lead.pk)
            if _where(request) == "lead"
            else redirect("followups:queue")
        )
    now = timezone.now()
    lead = Lead.objects.select_related("campaign", "requested_material", "team").get(pk=lead.pk)
    on_lead_page = _where(request) == "lead"
    tasks = lead.followups.open().select_related("assignee")  # each task's .lead is `lead`
    if not on_lead_page:
        tasks = tasks.filter(pk__in=_task_scope(request).filter(lead=lead).values("pk"))
    row = LeadRow(lead=lead, tasks=list(tasks.order_by("due_at", "id")))
    shown_in = request.POST.get("section", "")
    moves_to = row.head.queue_section(now) if row.head else ""
    context = {
        **ROW_CONTEXT,
        "row": row,
        "now": now,
        "team_reps": _team_reps(request.user),
        "message": message,
        "error": error,
        "form": form,
        "acted": acted,
        # Acted on from behind "more tasks" (it sorts after the row's next task): keep it open.
        "open_more": acted is not None
        and row.head is not None
        and (acted.due_at, acted.pk) > (row.head.due_at, row.head.pk),
        "focus": True,
        # After a reached call, or when booking the next step went wrong: ask for it.
        "prompt": (prompt or (form is not None and "next_step" in form.fields))
        and lead.stage == "lead"
        and not lead.is_closed,
        "section": shown_in,
        "moves_to": moves_to if shown_in in SECTIONS and moves_to != shown_in else "",
    }
    if on_lead_page:
        return render(request, "followups/_lead_tasks.html", context, status=status)
    context["counts"] = _counts(request, now) if not error else None
    return render(request, "followups/_row_response.html", context, status=status)


def _where(request) -> str:
    return "lead" if request.POST.get("where") == "lead" else "queue"


@login_required
@require_POST
def dispatch(request, pk: int):
    followup = _actionable_followup(request, pk)
    form = DispatchForm(request.POST)
    form.is_valid()
    postal = form.cleaned_data.get("postal", False)
    try:
        callback = material_dispatch(
            followup=followup, by=request.user, at=timezone.now(), postal=postal
        )
    except FollowUpAlreadyDone:
        return lead_tasks_response(
            request,
            followup.lead,
            acted=followup,
            error=_("This was already done by someone else."),
            status=409,
        )
    except ValueError as exc:
        return lead_tasks_response(
            request, followup.lead, acted=followup, error=str(exc), status=422
        )
    due = date_format(timezone.localtime(callback.due_at), "SHORT_DATETIME_FORMAT")
    return lead_tasks_response(
        request,
        followup.lead,
        acted=followup,
        message=_("Material sent. Call back by %(due)s.") % {"due": due},
    )


@login_required
@require_POST
def call(request, pk: int):
    followup = _actionable_followup(request, pk)
    now = timezone.now()
    form = CallForm(request.POST, now=now)
    if not form.is_valid():
        return lead_tasks_response(
            request,
            followup.lead,
            acted=followup,
            form=form,
            error=_("Please correct the call details."),
            status=422,
        )
    outcome = form.cleaned_data["outcome"]
    try:
        booked = call_log(
            followup=followup,
            by=request.user,
            at=now,
            outcome=outcome,
            call_back_at=form.cleaned_data["call_back_at"],
            note=form.cleaned_data["note"],
            detail=form.cleaned_data["detail"],
        )
    except FollowUpAlreadyDone:
        return lead_tasks_response(
            request,
            followup.lead,
            acted=followup,
            error=_("This was already done by someone else."),
            status=409,
        )
    except ValueError as exc:
        return lead_tasks_response(
            request, followup.lead, acted=followup, error=str(exc), status=422
        )
    if booked is None:
        message = _("Call logged.")
    else:
        due = date_format(timezone.localtime(booked.due_at), "SHORT_DATETIME_FORMAT")
        message = _("Call logged. Next attempt by %(due)s.") % {"due": due}
    return lead_tasks_response(
        request,
        followup.lead,
        acted=followup,
        message=message,
        prompt=outcome == CallOutcome.REACHED,
    )


@login_required
@require_POST
def complete(request, pk: int):
    """Done with a next step (visit held, sample sent, offer made)."""
    followup = _actionable_followup(request, pk)
    if followup.kind != FollowUp.Kind.NEXT_STEP:
        return lead_tasks_response(
            request,
            followup.lead,
            acted=followup,
            error=_("Use the actions of this task."),
            status=422,
        )
    try:
        followup_complete(
            followup=followup,
            by=request.user,
            at=timezone.now(),
            outcome="done",
            note=request.POST.get("note", "")[:2000],
        )
    except FollowUpAlreadyDone:
        return lead_tasks_response(
            request,
            followup.lead,
            acted=followup,
            error=_("This was already done by someone else."),
            status=409,
        )
    return lead_tasks_response(request, followup.lead, acted=followup, message=_("Done."))


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
    from accounts.models import Team, User

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


# The counts each breakdown table shows, in its column order (templates/followups/dashboard.html).
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

    Figures come from the rollup (followups/rollup.py), as of its last refresh.
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
    leads_url = reverse("followups:dashboard_leads")
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
                "metric": metrics.METRICS[key],
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
                "metric": metrics.METRICS[numerator],
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
        "followups/dashboard.html",
        {
            "filters": filters,
            "tiles": tiles,
            "metrics": metrics.METRICS,
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
    from accounts.models import Team

    if user.is_rep or (user.is_manager and user.team_id):
        return Team.objects.filter(pk=user.team_id)
    return Team.objects.all()


# The shares' column names in exports, as the dashboard's tiles name them.
RATE_LABELS = {
    "material_on_time_share": gettext_lazy("Material sent within SLA"),
    "call_rate": gettext_lazy("Call-back rate"),
    "reach_rate": gettext_lazy("Reached by phone"),
    "acceptance_rate": gettext_lazy("Sales acceptance rate"),
}


def _breakdown_csv(by: str, rows) -> HttpResponse:
    header = [
        str(metrics.BREAKDOWNS[by][1]),
        *[str(m.label) for m in metrics.METRICS.values()],
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
                *[f.counts[k] for k in metrics.METRICS],
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
    metric = metrics.METRICS.get(request.GET.get("metric", ""), metrics.METRICS["leads"])
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
                    "followups/dashboard_leads.html",
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
    return render(
        request,
        "followups/dashboard_leads.html",
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


@login_required
def notification_list(request):
    items = request.user.notifications.select_related("lead", "followup", "campaign")[:100]
    return render(request, "followups/notification_list.html", {"notifications": items})


@login_required
@require_POST
def notifications_read(request):
    ids = [
        pk
        for pk in (QueryFilterForm.one(IdField("id"), i) for i in request.POST.getlist("id"))
        if pk
    ] or None
    notifications_mark_read(user=request.user, now=timezone.now(), ids=ids)
    if request.htmx:
        return bell(request)
    return redirect("followups:notifications")


@login_required
def bell(request):
    """htmx-polled partial: the unread count, refreshed every 20 s on every page."""
    return render(
        request,
        "followups/_bell.html",
        {"unread_notifications": request.user.notifications.unread().count()},
    )
