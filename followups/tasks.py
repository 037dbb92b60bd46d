"""Celery tasks: thin — take now from the clock, call the service.

Only the idempotent sweeps use late acks: a worker dying mid-task leaves them to
run again, and running again is safe because each step is claimed in the database.
"""

from celery import shared_task
from django.utils import timezone

from . import notifications, services


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def sweep_overdue_task() -> str:
    report = services.sweep_overdue(now=timezone.now())
    # Emails are claimed row by row, so sending them here is safe on a re-run too.
    sent = notifications.notification_emails_send(now=timezone.now())
    return f"{report}; emails sent: {sent}"


@shared_task(ignore_result=True)
def send_notification_emails_task() -> int:
    # Early ack on purpose: each email is claimed before it is sent (at most once).
    return notifications.notification_emails_send(now=timezone.now())


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def send_daily_digest_task() -> int:
    return notifications.daily_digest_send(now=timezone.now())
