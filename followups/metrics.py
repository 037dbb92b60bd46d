"""Handoff SLA figures. Each is defined once here; pages show the definition beside it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet
from django.utils import timezone

from .models import FollowUp


@dataclass
class Figures:
    leads: int
    material_requested: int
    material_on_time: int
    material_late: int
    material_pending: int
    contacted: int
    never_contacted: int
    overdue_now: int

    @property
    def material_on_time_share(self) -> float | None:
        return self.material_on_time / self.material_requested if self.material_requested else None

    @property
    def contact_rate(self) -> float | None:
        return self.contacted / self.leads if self.leads else None


def _contacted():
    """A lead counts as contacted once a call-back follow-up of it was completed."""
    return Exists(
        FollowUp.objects.filter(
            lead=OuterRef("pk"), kind=FollowUp.Kind.CALLBACK, completed_at__isnull=False
        )
    )


def handoff_figures(*, leads: QuerySet, now: datetime) -> Figures:
    material = FollowUp.objects.filter(lead__in=leads, kind=FollowUp.Kind.MATERIAL).aggregate(
        total=Count("pk"),
        on_time=Count("pk", filter=Q(completed_at__lte=F("overdue_at"))),
        late=Count("pk", filter=Q(completed_at__gt=F("overdue_at"))),
        pending=Count("pk", filter=Q(completed_at__isnull=True)),
    )
    lead_counts = leads.aggregate(total=Count("pk"), contacted=Count("pk", filter=Q(_contacted())))
    overdue = FollowUp.objects.overdue(now).filter(lead__in=leads).count()
    return Figures(
        leads=lead_counts["total"],
        material_requested=material["total"],
        material_on_time=material["on_time"],
        material_late=material["late"],
        material_pending=material["pending"],
        contacted=lead_counts["contacted"],
        never_contacted=lead_counts["total"] - lead_counts["contacted"],
        overdue_now=overdue,
    )


def weekly_figures(*, leads: QuerySet, now: datetime, weeks: int) -> list[tuple[datetime, Figures]]:
    """Figures per week of receipt, oldest first: the before/after of the handoff."""
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    week_start = today - timedelta(days=today.weekday())
    result = []
    for offset in range(weeks - 1, -1, -1):
        start = week_start - timedelta(weeks=offset)
        batch = leads.filter(received_at__gte=start, received_at__lt=start + timedelta(weeks=1))
        result.append((start, handoff_figures(leads=batch, now=now)))
    return result
