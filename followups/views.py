from datetime import datetime, time, timedelta

from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from leads.models import Lead

from .metrics import handoff_figures, weekly_figures
from .models import FollowUp, Notification
from .services import notifications_mark_read


def _end_of_today(now: datetime) -> datetime:
    local = timezone.localtime(now)
    return timezone.make_aware(datetime.combine(local.date(), time.max))


@login_required
def queue(request):
    """The rep's morning list: overdue (oldest first), due today, then upcoming."""
    now = timezone.now()
    mine = (
        FollowUp.objects.open()
        .filter(assignee=request.user)
        .select_related("lead", "lead__campaign")
        .order_by("due_at", "id")
    )
    sections = [
        ("overdue", mine.filter(overdue_at__lte=now)),
        ("today", mine.filter(overdue_at__gt=now, due_at__lte=_end_of_today(now))),
        ("upcoming", mine.filter(due_at__gt=_end_of_today(now))),
    ]
    return render(
        request,
        "followups/queue.html",
        {
            "sections": [(name, items.count(), items[:50]) for name, items in sections],
            "now": now,
        },
    )


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
    ids = request.POST.getlist("id") or None
    notifications_mark_read(user=request.user, now=timezone.now(), ids=[int(i) for i in ids if i.isdigit()] if ids else None)
    if request.htmx:
        return bell(request)
    return redirect("followups:notifications")


@login_required
def bell(request):
    """htmx-polled partial: the unread count, refreshed every 30 s on every page."""
    unread = Notification.objects.filter(recipient=request.user, read_at__isnull=True)
    return render(request, "followups/_bell.html", {"unread_notifications": unread.count()})


