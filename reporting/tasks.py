"""Celery tasks of the dashboard: thin — take now from the clock, call the service."""

from celery import shared_task
from django.utils import timezone

from . import services
from .rollup import dashboard_rollup_refresh


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def send_weekly_summary_task() -> int:
    # Late ack: a re-run is safe, each summary is claimed once per team lead and day.
    return services.weekly_summary_send(now=timezone.now())


@shared_task(ignore_result=True)
def refresh_dashboard_rollup_task() -> str:
    # Early ack: a lost run is simply redone by the next tick a minute later.
    return dashboard_rollup_refresh(now=timezone.now())
