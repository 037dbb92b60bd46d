"""Celery tasks: thin — take now from the clock, call the service."""

from celery import shared_task
from django.utils import timezone

from . import services


@shared_task(acks_late=True, reject_on_worker_lost=True, ignore_result=True)
def retention_task() -> str:
    # Late ack is safe: each lead is claimed (SKIP LOCKED, ErasedLead once) before it goes.
    return str(services.retention_apply(now=timezone.now()))
