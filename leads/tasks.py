"""Celery tasks of leads: thin — fetch the arguments, call the service."""

from celery import shared_task

from . import imports


# Late ack: a worker killed mid-import leaves the job queued again, and running it
# again is safe: each chunk commits with the job's counters, so it resumes after
# the last committed chunk and writes no row twice.
@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
    soft_time_limit=1800,
    time_limit=1900,
)
def import_run_task(job_id: int) -> str:
    job = imports.import_run(job_id=job_id)
    return f"import {job.pk}: {job.status}, {job.created_count} created, {job.failed} failed"
