from dataclasses import dataclass
from datetime import UTC, datetime

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, Min, OuterRef, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.formats import date_format
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from campaigns.models import Campaign
from leads.models import Lead, RejectReason

from .forms import (
    CallForm,
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


def _queue_scope(request):
    """Whose follow-ups: a rep their own; a team lead the team's (or one rep's); admins all.

    The task's own filters (assignee, kind) come from _task_scope; the lead-level ones
    (team, campaign) travel with the lead, so _heads needs no join for them.
    """
    user = request.user
    if user.is_marketing:
        raise PermissionDenied
    items = _task_scope(request)
    if user.is_manager:
        items = items.filter(lead__team_id=user.team_id)
    filters = QueueFilterForm(request.GET).valid()
    if "campaign" in filters:
        items = items.filter(lead__campaign_id=filters["campaign"])
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
            # The one meaning of overdue (docs/OVERDUE.md): tasks past their deadline,
            # the number the dashboard's tile shows for the same scope.
            "overdue_tasks": _queue_scope(request).overdue(now).count(),
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
