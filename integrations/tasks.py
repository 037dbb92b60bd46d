"""Celery tasks: thin — take now from the clock, call the service.

deliver_webhooks_task runs on a beat tick. Each delivery is claimed in the
database before it is sent, so a doubled tick or two workers never send one
twice at once; a worker lost mid-send is covered by the stale-claim rule.
"""

from celery import shared_task
from django.utils import timezone

from . import services


@shared_task(ignore_result=True)
def deliver_webhooks_task() -> str:
    return str(services.webhook_deliveries_send(now=timezone.now()))


@shared_task(ignore_result=True)
def prune_idempotency_keys_task() -> int:
    return services.idempotency_keys_prune(now=timezone.now())
