from datetime import UTC, datetime, time

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from campaigns.models import Campaign
from leads.models import Lead, RejectReason

from .forms import (
    CallForm,
    DispatchForm,
    IdField,
    QueryFilterForm,
    QueueFilterForm,
)
from .models import FollowUp
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
    items = FollowUp.objects.open().select_related(
        "lead", "lead__campaign", "lead__requested_material", "lead__team", "assignee"
    )
    if user.is_marketing:
        raise PermissionDenied
    if user.is_rep:
        return items.filter(assignee=user)
    if user.is_manager:
        items = items.filter(lead__team_id=user.team_id)
    rep = QueueFilterForm(request.GET).valid().get("rep")
    return items.filter(assignee_id=rep) if rep else items


def _filtered(request, items):
    filters = QueueFilterForm(request.GET).valid()
    if "kind" in filters:
        items = items.filter(kind=filters["kind"])
    if "campaign" in filters:
        items = items.filter(lead__campaign_id=filters["campaign"])
    return items


def _filter_query(request) -> str:
    return urlencode(QueueFilterForm(request.GET).valid())


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
        try:  # a cursor this page did not write is no cursor: the first page
            due_at = parse_datetime(due)
            due_at = due_at and due_at.tzinfo and due_at.astimezone(UTC)
            pk = int(pk) if pk.isascii() and pk.isdigit() and len(pk) < 20 else None
        except (ValueError, OverflowError):
            due_at = None
        if due_at and pk is not None:
            items = items.filter(Q(due_at__gt=due_at) | Q(due_at=due_at, id__gt=pk))
    rows = list(items[: PAGE_SIZE + 1])
    more = rows[PAGE_SIZE].pk if len(rows) > PAGE_SIZE else None
    rows = rows[:PAGE_SIZE]
    cursor = f"{rows[-1].due_at.isoformat()}_{rows[-1].pk}" if more else ""
    return rows, cursor


def _seen(counts: dict) -> str:
    """The section counts a page was rendered with; the page's refresh compares against them."""
    return "-".join(str(counts[name]) for name in SECTIONS)


def _team_reps(user):
    """Reps a team lead may reassign to; also switches the tick-box column on in rows."""
    if user.is_manager and user.team_id:
        return list(user.team.members.filter(role="rep", is_active=True))
    return []


def _counts(request, now: datetime) -> dict:
    """All three section counts in one pass over the open follow-ups in scope."""
    items = _filtered(request, _queue_scope(request))
    end_of_today = _end_of_today(now)
    return items.aggregate(
        overdue=Count("pk", filter=Q(overdue_at__lte=now)),
        today=Count("pk", filter=Q(overdue_at__gt=now, due_at__lte=end_of_today)),
        upcoming=Count("pk", filter=Q(overdue_at__gt=now, due_at__gt=end_of_today)),
    )


@login_required
def queue(request):
    """The morning list: overdue (oldest deadline first), due today, then upcoming."""
    now = timezone.now()
    items = _filtered(request, _queue_scope(request))
    section = request.GET.get("section")
    filters = QueueFilterForm(request.GET)
    if request.htmx and request.GET.get("counts"):  # the page's 30-second refresh of its badges
        counts = _counts(request, now)
        changed = request.GET.get("seen", "") != _seen(counts)
        return render(request, "followups/_counts.html", {"counts": counts, "changed": changed})
    if request.htmx and section in SECTIONS:  # "show more" of one section
        rows, cursor = _page(_section(items, section, now), request.GET.get("after", ""))
        return render(
            request,
            "followups/_queue_page.html",
            {
                "rows": rows,
                "cursor": cursor,
                "name": section,
                "now": now,
                **ROW_CONTEXT,
                "team_reps": _team_reps(request.user),
                "filter_query": _filter_query(request),
            },
        )
    sections = []
    for name in SECTIONS:
        rows, cursor = _page(_section(items, name, now), "")
        sections.append({"name": name, "rows": rows, "cursor": cursor})
    counts = _counts(request, now)
    for entry in sections:
        entry["count"] = counts[entry["name"]]
    seen = _seen(counts)
    team_reps = _team_reps(request.user)
    return render(
        request,
        "followups/queue.html",
        {
            "sections": sections,
            "now": now,
            "kinds": FollowUp.Kind.choices,
            "campaigns": Campaign.objects.order_by("-starts_on")[:50],
            "team_reps": team_reps,
            "filters": {name: str(value) for name, value in filters.valid().items()},
            "filter_problems": filters.problems(),
            "filter_query": _filter_query(request),
            "seen": seen,
            **ROW_CONTEXT,
        },
    )


def _actionable_followup(request, pk: int) -> FollowUp:
    if request.user.is_marketing:
        raise PermissionDenied(_("Marketing does not log sales actions."))
    visible = FollowUp.objects.filter(lead__in=Lead.objects.visible_to(request.user))
    return get_object_or_404(
        visible.select_related("lead", "lead__team", "lead__requested_material", "policy"), pk=pk
    )


def queue_row_response(
    request,
    followup: FollowUp,
    *,
    message: str = "",
    error: str = "",
    form=None,
    status=200,
    booked: FollowUp | None = None,
):
    """The acted-on row (done, or with its error), the follow-up the action booked right
    under it so the rep can go on without a reload, and fresh section counts. Public:
    the lead actions (leads.views) answer a queue row with it too."""
    if not request.htmx:
        return redirect("followups:queue")
    followup.refresh_from_db()
    now = timezone.now()
    if booked is not None and (
        booked.completed_at is not None or booked.assignee_id != followup.assignee_id
    ):
        booked = None
    context = {
        **ROW_CONTEXT,
        "f": followup,
        "now": now,
        "team_reps": _team_reps(request.user),
        "message": message,
        "error": error,
        "form": form,
        "booked": booked,
        "counts": _counts(request, now) if not error else None,
    }
    return render(request, "followups/_row_response.html", context, status=status)


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
        return queue_row_response(
            request, followup, error=_("This was already done by someone else."), status=409
        )
    except ValueError as exc:
        return queue_row_response(request, followup, error=str(exc), status=422)
    due = timezone.localtime(callback.due_at).strftime("%d.%m.%Y %H:%M")
    return queue_row_response(
        request,
        followup,
        message=_("Material sent. Call back by %(due)s.") % {"due": due},
        booked=callback,
    )


@login_required
@require_POST
def call(request, pk: int):
    followup = _actionable_followup(request, pk)
    now = timezone.now()
    form = CallForm(request.POST, now=now)
    if not form.is_valid():
        return queue_row_response(
            request, followup, form=form, error=_("Please correct the call details."), status=422
        )
    try:
        booked = call_log(
            followup=followup,
            by=request.user,
            at=now,
            outcome=form.cleaned_data["outcome"],
            call_back_at=form.cleaned_data["call_back_at"],
            note=form.cleaned_data["note"],
        )
    except FollowUpAlreadyDone:
        return queue_row_response(
            request, followup, error=_("This was already done by someone else."), status=409
        )
    except ValueError as exc:
        return queue_row_response(request, followup, error=str(exc), status=422)
    if booked is None:
        message = _("Call logged.")
    else:
        due = timezone.localtime(booked.due_at).strftime("%d.%m.%Y %H:%M")
        message = _("Call logged. Next attempt by %(due)s.") % {"due": due}
    return queue_row_response(request, followup, message=message, booked=booked)


@login_required
@require_POST
def complete(request, pk: int):
    """Done with a next step (visit held, sample sent, offer made)."""
    followup = _actionable_followup(request, pk)
    if followup.kind != FollowUp.Kind.NEXT_STEP:
        return queue_row_response(
            request, followup, error=_("Use the actions of this task."), status=422
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
        return queue_row_response(
            request, followup, error=_("This was already done by someone else."), status=409
        )
    return queue_row_response(request, followup, message=_("Done."))


@login_required
def notification_list(request):
    items = request.user.notifications.select_related("lead", "followup")[:100]
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
