"""Reports that leave the app: Monday's handoff summary to each team lead."""

from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from accounts.models import Role, User
from followups.figures import METRICS
from followups.models import DigestRun, FollowUp
from followups.notifications import digest_claim

from . import metrics


def weekly_summary_send(*, now: datetime) -> int:
    """Monday's email to each team lead: last week's tiles and the five worst overdue items."""
    today = timezone.localdate(now)
    start, end = today - timedelta(days=7), today - timedelta(days=1)
    low, high = metrics.period_bounds(start, end)
    sent = 0
    managers = User.objects.filter(
        Q(role=Role.MANAGER) | Q(role=Role.ADMIN), is_active=True
    ).exclude(email="")
    for manager in managers:
        leads = metrics.scope(user=manager)
        figures = metrics.handoff_figures(
            leads=leads.filter(received_at__gte=low, received_at__lt=high), now=now, backlog=leads
        )
        worst = (
            FollowUp.objects.overdue(now)
            .filter(lead__in=leads)
            .select_related("lead", "assignee")
            .order_by("overdue_at", "pk")[:5]
        )
        if not digest_claim(recipient=manager, kind=DigestRun.Kind.WEEKLY, day=today, now=now):
            continue
        with translation.override(manager.language):
            lines = [
                _("Handoff summary %(start)s – %(end)s")
                % {
                    "start": date_format(start, "MONTH_DAY_FORMAT"),
                    "end": date_format(end, "SHORT_DATE_FORMAT"),
                },
                "",
            ]
            for key in (
                "leads",
                "material_on_time",
                "material_late",
                "contacted",
                "never_contacted",
                "overdue_now",
            ):
                lines.append(f"{METRICS[key].label}: {figures.counts[key]}")
            for name, value in figures.rates.items():
                lines.append(f"{name}: {'—' if value is None else f'{value:.0%}'}")
            lines += ["", _("The five longest overdue:")]
            for item in worst:
                late = date_format(timezone.localtime(item.overdue_at), "SHORT_DATETIME_FORMAT")
                lines.append(
                    f"- {item.get_kind_display()} · {item.lead} · {item.assignee or '—'} · {_('overdue since')} {late}"
                )
                lines.append(f"  {settings.LEADBRIDGE_BASE_URL}/leads/{item.lead_id}/")
            subject = _("LeadBridge weekly handoff summary")
        send_mail(f"[LeadBridge] {subject}", "\n".join(lines), None, [manager.email])
        sent += 1
    return sent
