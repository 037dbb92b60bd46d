"""Celery tasks of campaigns: thin — take now from the clock, call the service."""

from celery import shared_task
from django.utils import timezone

from . import services


# Early ack on purpose: each email is claimed before it is sent (at most once).
@shared_task(ignore_result=True)
def send_material_emails_task() -> int:
    return services.material_emails_send(now=timezone.now())


# Early ack on purpose, as above: each opt-in email is claimed before it is sent.
@shared_task(ignore_result=True)
def send_opt_in_emails_task() -> int:
    return services.opt_in_emails_send(now=timezone.now())
