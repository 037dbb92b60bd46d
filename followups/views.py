from datetime import datetime, time, timedelta

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campaigns.models import Campaign
from leads.models import Lead, RejectReason

from .forms import CallForm, DispatchForm
from .metrics import handoff_figures, weekly_figures
from .models import FollowUp, Notification
from .services import (
    FollowUpAlreadyDone,
    call_log,
    followup_complete,
    material_dispatch,
    notifications_mark_read,
)

PAGE_SIZE = 25
ROW_CONTEXT = {"reject_reasons": RejectReason.choices}
SECTIONS = ("overdue", "today", "upcoming")


def _end_of_today(now: datetime) -> datetime:
    return timezone.make_aware(datetime.combine(timezone.localdate(now), time.max))


def _queue_scope(request):
    """Whose follow-ups: a rep their own; a team lead the team's (or one rep's); admins all."""
    user = request.user
    items = FollowUp.objects.open().select_related("lead", "lead__campaign", "assignee")
    if user.is_marketing:
        raise PermissionDenied
    if user.is_rep:
        return items.filter(assignee=user)
    if user.is_manager:
        items = items.filter(lead__team_id=user.team_id)
    rep = request.GET.get("rep", "")
    return items.filter(assignee_id=int(rep)) if rep.isdigit() else items


def _filtered(request, items):
    kind = request.GET.get("kind", "")
    if kind in FollowUp.Kind.values:
        items = items.filter(kind=kind)
    campaign = request.GET.get("campaign", "")
    if campaign.isdigit():
        items = items.filter(lead__campaign_id=int(campaign))
    return items


def _filter_query(request) -> str:
    return urlencode({k: v for k, v in request.GET.items() if k in {"kind", "campaign", "rep"} and v})


def _section(items, name: str, now: datetime):
    end_of_today = _end_of_today(now)
    return {
        "overdue": items.filter(overdue_at__lte=now),
        "today": items.filter(overdue_at__gt=now, due_at__lte=end_of_today),
        "upcoming": items.filter(overdue_at__gt=now, due_at__gt=end_of_today),
    }[name].order_by("due_at", "id")


def _page(items, after: str):
    """Keyset pagination on (due_at, id): cheap on any page, stable while rows change."""
    if after:
        due, _sep, pk = after.rpartition("_")
        due_at = parse_datetime(due)
        if due_at is not None and pk.isdigit():
            items = items.filter(Q(due_at__gt=due_at) | Q(due_at=due_at, id__gt=int(pk)))
    rows = list(items[: PAGE_SIZE + 1])
    more = rows[PAGE_SIZE].pk if len(rows) > PAGE_SIZE else None
    rows = rows[:PAGE_SIZE]
    cursor = f"{rows[-1].due_at.isoformat()}_{rows[-1].pk}" if more else ""
    return rows, cursor


def _counts(request, now: datetime) -> dict:
    items = _filtered(request, _queue_scope(request))
    return {name: _section(items, name, now).count() for name in SECTIONS}


@login_required
def queue(request):
    """The morning list: overdue (oldest deadline first), due today, then upcoming."""
    now = timezone.now()
    items = _filtered(request, _queue_scope(request))
    section = request.GET.get("section")
    if request.htmx and section in SECTIONS:  # "show more" of one section
        rows, cursor = _page(_section(items, section, now), request.GET.get("after", ""))
        return render(request, "followups/_queue_page.html",
                      {"rows": rows, "cursor": cursor, "name": section, "now": now, **ROW_CONTEXT,
                       "filter_query": _filter_query(request)})
    sections = []
    for name in SECTIONS:
        rows, cursor = _page(_section(items, name, now), "")
        sections.append({"name": name, "rows": rows, "cursor": cursor})
    counts = _counts(request, now)
    for entry in sections:
        entry["count"] = counts[entry["name"]]
    team_reps = []
    if request.user.is_manager and request.user.team_id:
        team_reps = request.user.team.members.filter(role="rep", is_active=True)
    return render(
        request,
        "followups/queue.html",
        {
            "sections": sections,
            "now": now,
            "kinds": FollowUp.Kind.choices,
            "campaigns": Campaign.objects.order_by("-starts_on")[:50],
            "team_reps": team_reps,
            "filters": request.GET,
            "filter_query": _filter_query(request),
            **ROW_CONTEXT,
        },
    )


def _actionable_followup(request, pk: int) -> FollowUp:
    if request.user.is_marketing:
        raise PermissionDenied(_("Marketing does not log sales actions."))
    visible = FollowUp.objects.filter(lead__in=Lead.objects.visible_to(request.user))
    return get_object_or_404(visible.select_related("lead", "lead__team", "lead__requested_material", "policy"), pk=pk)


def _row_response(request, followup: FollowUp, *, message: str = "", error: str = "", form=None, status=200):
    followup.refresh_from_db()
    now = timezone.now()
    context = {**ROW_CONTEXT, "f": followup, "now": now, "message": message, "error": error, "form": form,
               "counts": _counts(request, now) if not error else None}
    if not request.htmx:
        return redirect("followups:queue")
    return render(request, "followups/_task_row.html", context, status=status)


@login_required
@require_POST
def dispatch(request, pk: int):
    followup = _actionable_followup(request, pk)
    form = DispatchForm(request.POST)
    form.is_valid()
    postal = form.cleaned_data.get("postal", False)
    try:
        callback = material_dispatch(followup=followup, by=request.user, at=timezone.now(), postal=postal)
    except FollowUpAlreadyDone:
        return _row_response(request, followup, error=_("This was already done by someone else."), status=409)
    except ValueError as exc:
        return _row_response(request, followup, error=str(exc), status=422)
    due = timezone.localtime(callback.due_at).strftime("%d.%m.%Y %H:%M")
    return _row_response(request, followup, message=_("Material sent. Call back by %(due)s.") % {"due": due})


@login_required
@require_POST
def call(request, pk: int):
    followup = _actionable_followup(request, pk)
    now = timezone.now()
    form = CallForm(request.POST, now=now)
    if not form.is_valid():
        return _row_response(request, followup, form=form, error=_("Please correct the call details."), status=422)
    try:
        booked = call_log(followup=followup, by=request.user, at=now, outcome=form.cleaned_data["outcome"],
                          call_back_at=form.cleaned_data["call_back_at"], note=form.cleaned_data["note"])
    except FollowUpAlreadyDone:
        return _row_response(request, followup, error=_("This was already done by someone else."), status=409)
    except ValueError as exc:
        return _row_response(request, followup, error=str(exc), status=422)
    if booked is None:
        message = _("Call logged.")
    else:
        due = timezone.localtime(booked.due_at).strftime("%d.%m.%Y %H:%M")
        message = _("Call logged. Next attempt by %(due)s.") % {"due": due}
    return _row_response(request, followup, message=message)


@login_required
@require_POST
def complete(request, pk: int):
    """Done with a next step (visit held, sample sent, offer made)."""
    followup = _actionable_followup(request, pk)
    if followup.kind != FollowUp.Kind.NEXT_STEP:
        return _row_response(request, followup, error=_("Use the actions of this task."), status=422)
    try:
        followup_complete(followup=followup, by=request.user, at=timezone.now(), outcome="done",
                          note=request.POST.get("note", "")[:2000])
    except FollowUpAlreadyDone:
        return _row_response(request, followup, error=_("This was already done by someone else."), status=409)
    return _row_response(request, followup, message=_("Done."))


@login_required
def dashboard(request):
    now = timezone.now()
    leads = Lead.objects.visible_to(request.user)
    if request.user.is_rep:
        leads = leads.filter(owner=request.user)
    period_start = now - timedelta(days=30)
    return render(
        request,
        "followups/dashboard.html",
        {
            "figures": handoff_figures(leads=leads.filter(received_at__gte=period_start), now=now),
            "weeks": weekly_figures(leads=leads, now=now, weeks=13),
            "period_start": period_start,
            "now": now,
        },
    )


@login_required
def notification_list(request):
    items = request.user.notifications.select_related("lead", "followup")[:100]
    return render(request, "followups/notification_list.html", {"notifications": items})


@login_required
@require_POST
def notifications_read(request):
    ids = [int(i) for i in request.POST.getlist("id") if i.isdigit()] or None
    notifications_mark_read(user=request.user, now=timezone.now(), ids=ids)
    if request.htmx:
        return bell(request)
    return redirect("followups:notifications")


@login_required
def bell(request):
    """htmx-polled partial: the unread count, refreshed every 30 s on every page."""
    unread = Notification.objects.filter(recipient=request.user, read_at__isnull=True)
    return render(request, "followups/_bell.html", {"unread_notifications": unread.count()})
