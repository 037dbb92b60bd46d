"""A real Celery worker process runs the sweep; SIGKILL in the middle loses and doubles nothing."""

import email
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from celery import Celery
from django.conf import settings
from django.db import connection
from django.utils import timezone

from followups.deadlines import initial_followups, sla_policy_for
from followups.models import Escalation, FollowUp, Notification
from leads.models import Lead

from ..factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
WAIT_LIMIT = 120  # seconds; a bound on polling another process, not a sleep in the logic


def _database_url() -> str:
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        return (
            f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
        )
    return f"sqlite:///{db['NAME']}"


@pytest.fixture
def broker(tmp_path):
    """A private queue: a dedicated Redis queue name, or a private file-system broker folder."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    env = {}
    if settings.REDIS_URL:
        app = Celery(broker=settings.REDIS_URL)
    else:
        data_dir = tmp_path / "data"
        for sub in ("queue", "processed", "control"):
            (data_dir / "broker" / sub).mkdir(parents=True)
        env["LEADBRIDGE_DATA_DIR"] = str(data_dir)
        app = Celery(
            broker="filesystem://",
            broker_transport_options={
                "data_folder_in": str(data_dir / "broker" / "queue"),
                "data_folder_out": str(data_dir / "broker" / "queue"),
                "processed_folder": str(data_dir / "broker" / "processed"),
                "control_folder": str(data_dir / "broker" / "control"),
                "store_processed": False,
            },
        )
    yield app, queue, env
    app.close()


def _start_worker(
    queue: str, extra_env: dict, mail_dir: Path, log: Path, level: str = "warning"
) -> subprocess.Popen:
    env = {
        **os.environ,
        **extra_env,
        "DATABASE_URL": _database_url(),
        "DEBUG": "true",
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(mail_dir),
        "LEADBRIDGE_SWEEP_BATCH_SIZE": "10",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "leadbridge",
            "worker",
            "--pool",
            "solo",
            "-Q",
            queue,
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
            "-l",
            level,
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )


def _wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_LIMIT
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def _overdue_followups(count_leads: int, rep) -> int:
    now = timezone.now()
    received = now - timedelta(days=30)
    leads = Lead.objects.bulk_create(
        Lead(
            company=f"Firma {i}",
            contact_name="Kim Kunde",
            email=f"k{i}@example.com",
            channel="website",
            received_at=received,
            owner=rep,
            team=rep.team,
            dedup_key=f"e:k{i}@example.com",
        )
        for i in range(count_leads)
    )
    policy = sla_policy_for(lead=leads[0])
    followups = [f for lead in leads for f in initial_followups(lead=lead, policy=policy)]
    FollowUp.objects.bulk_create(followups, batch_size=1000)
    return len(followups)


def _sent_mails(mail_dir: Path) -> list:
    messages = []
    for path in mail_dir.glob("*.log"):
        for chunk in path.read_text().split("-" * 79):
            if chunk.strip():
                messages.append(email.message_from_string(chunk.strip()))
    return messages


@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_sweep_and_restarted_flags_every_follow_up_once_and_mails_once(
    broker, tmp_path, rep, manager
):
    app, queue, env = broker
    UserFactory(username="backup", role="rep", team=rep.team)  # someone to reassign to
    total = _overdue_followups(300, rep)
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()

    first = _start_worker(queue, env, mail_dir, tmp_path / "worker.log")
    try:
        app.send_task("followups.tasks.sweep_overdue_task", queue=queue)
        _wait_for(lambda: Escalation.objects.count() >= 60, "the first worker to start sweeping")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    claimed_before_kill = Escalation.objects.count()
    assert claimed_before_kill < total * 3, "the sweep finished before the kill; make it larger"

    second = _start_worker(queue, env, mail_dir, tmp_path / "worker.log")
    try:
        app.send_task("followups.tasks.sweep_overdue_task", queue=queue)
        _wait_for(
            lambda: (
                not FollowUp.objects.filter(escalation_level__lt=3).exists()
                and not Notification.objects.filter(email_state="pending").exists()
            ),
            "the second worker to finish the sweep and its emails",
        )
        app.send_task("followups.tasks.sweep_overdue_task", queue=queue)  # a doubled beat tick
        app.send_task("followups.tasks.send_notification_emails_task", queue=queue)
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=60)

    for level in (1, 2, 3):
        assert Escalation.objects.filter(level=level).count() == total
    assert FollowUp.objects.filter(flagged_at__isnull=False).count() == total
    notifications = Notification.objects.exclude(email_state="none")
    sent = notifications.filter(email_state="sent").count()
    assert sent + notifications.filter(email_state="sending").count() == notifications.count()
    mails = _sent_mails(mail_dir)
    assert len(mails) == sent
    keys = [(m["To"], m["Subject"], m.get_payload()) for m in mails]
    assert len(set(keys)) == len(keys), "an email went out twice"


@pytest.mark.django_db(transaction=True)
def test_ten_minutes_of_beat_ticks_without_a_worker_are_worked_once_when_one_starts(
    broker, tmp_path, rep, manager
):
    """Beat kept ticking while no worker ran: what it queued expires, the backlog is swept once."""
    app, queue, env = broker
    UserFactory(username="backup", role="rep", team=rep.team)
    total = _overdue_followups(40, rep)
    mail_dir = tmp_path / "mail"
    mail_dir.mkdir()
    now = timezone.now()
    sent, live = 0, 0
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        if not isinstance(entry["schedule"], float):
            continue  # the 07:00 crontabs: not due in these ten minutes
        interval, expires = entry["schedule"], entry["options"]["expires"]
        ticks = int(600 // interval)
        for k in range(ticks + 1):
            tick = now - timedelta(seconds=600 - k * interval)
            app.send_task(entry["task"], queue=queue, expires=tick + timedelta(seconds=expires))
            sent += 1
            live += tick + timedelta(seconds=expires) > now + timedelta(seconds=5)
    assert live == len(
        [e for e in settings.CELERY_BEAT_SCHEDULE.values() if isinstance(e["schedule"], float)]
    )

    log = tmp_path / "worker.log"
    worker = _start_worker(queue, env, mail_dir, log, level="info")
    try:
        _wait_for(
            lambda: log.read_text().count("Discarding revoked task") >= sent - live,
            "the worker to drop the expired ticks",
        )
        _wait_for(
            lambda: (
                not FollowUp.objects.filter(escalation_level__lt=3).exists()
                and not Notification.objects.filter(email_state="pending").exists()
            ),
            "the one live sweep and its emails",
        )
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(timeout=60)

    text = log.read_text()
    # The ticks still live when beat queued them ran (one sweep); the rest were dropped
    # (a live one may expire too while the worker starts: dropped, never run late).
    assert sent - live <= text.count("Discarding revoked task") <= sent - 1
    assert len(re.findall(r"sweep_overdue_task\[[^]]+\] succeeded", text)) == 1
    for level in (1, 2, 3):
        assert Escalation.objects.filter(level=level).count() == total
    mails = _sent_mails(mail_dir)
    assert len(mails) == Notification.objects.filter(email_state="sent").count() > 0
    keys = [(m["To"], m["Subject"], m.get_payload()) for m in mails]
    assert len(set(keys)) == len(keys), "an email went out twice"
