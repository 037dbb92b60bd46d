"""Retention: what is past its team's period is anonymised by the beat task, exactly once."""

from datetime import datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.management import call_command
from django.utils import timezone

from integrations.models import Event, WebhookDelivery
from integrations.services import webhook_subscription_create
from leadbridge.calendar import TZ
from leads.models import ImportJob, Lead, Stage
from leads.services import lead_decide
from privacy.models import ErasedLead, ErasureLog, RetentionPolicy, Suppression
from privacy.services import months_before, retention_apply
from privacy.tasks import retention_task

from ..factories import receive_lead

pytestmark = pytest.mark.django_db

REJECTED_AT = datetime(2024, 3, 15, 10, 0, tzinfo=TZ)


@pytest.fixture
def rejected(campaign, rep):
    with time_machine.travel(REJECTED_AT, tick=False):
        lead = receive_lead(
            campaign=campaign, contact_name="Olga Altbestand", email="olga@x.example"
        )
        lead_decide(lead=lead, by=rep, at=REJECTED_AT, decision="rejected", reason="no_budget")
    return lead


def test_a_rejected_lead_goes_the_day_after_its_24_months_not_the_day_before(rejected):
    assert months_before(datetime(2026, 3, 15, 10, 0, tzinfo=TZ), 24) == REJECTED_AT
    with time_machine.travel(REJECTED_AT + timedelta(days=730 - 1), tick=False):  # 14.03.2026
        assert retention_task().startswith("leads anonymised: 0")
    assert Lead.objects.get(pk=rejected.pk).contact_name == "Olga Altbestand"
    with time_machine.travel(datetime(2026, 3, 16, 10, 0, tzinfo=TZ), tick=False):
        assert retention_task().startswith("leads anonymised: 1")
        assert retention_task().startswith("leads anonymised: 0")  # once
    lead = Lead.objects.get(pk=rejected.pk)
    assert (lead.contact_name, lead.email, lead.stage) == ("—", "", Stage.REJECTED)
    log = ErasureLog.objects.get()
    assert log.trigger == "retention" and log.by is None and log.lead_ids == [lead.pk]
    assert Suppression.objects.count() == 0  # the person never asked: they may come back


def test_activity_on_the_timeline_restarts_the_period_and_a_team_may_keep_shorter(
    rejected, team, rep
):
    from leads.services import lead_note_add

    lead_note_add(lead=rejected, by=rep, at=REJECTED_AT + timedelta(days=400), text="rief an")
    moment = datetime(2026, 3, 16, 10, 0, tzinfo=TZ)
    assert retention_apply(now=moment).leads == 0
    RetentionPolicy.objects.create(team=team, closed_lead_months=6)
    assert retention_apply(now=moment).leads == 1


def test_open_customers_are_kept_and_never_converted_leads_are_not(campaign, rep):
    with time_machine.travel(REJECTED_AT, tick=False):
        stale = receive_lead(campaign=campaign, email="stale@x.example")
        prospect = receive_lead(campaign=campaign, email="kunde@x.example")
    Lead.objects.filter(pk=prospect.pk).update(stage=Stage.PROSPECT, updated_at=REJECTED_AT)
    Lead.objects.filter(pk=stale.pk).update(updated_at=REJECTED_AT)
    retention_apply(now=datetime(2027, 1, 1, tzinfo=TZ))
    assert set(ErasedLead.objects.values_list("lead_id", flat=True)) == {stale.pk}


def test_batches_are_bounded_and_the_next_run_goes_on(campaign, rep):
    with time_machine.travel(REJECTED_AT, tick=False):
        leads = [receive_lead(campaign=campaign, email=f"p{i}@x.example") for i in range(5)]
    Lead.objects.filter(pk__in=[x.pk for x in leads]).update(updated_at=REJECTED_AT)
    moment = datetime(2027, 1, 1, tzinfo=TZ)
    assert retention_apply(now=moment, batch_size=2, max_batches=2).leads == 4
    assert retention_apply(now=moment, batch_size=2, max_batches=2).leads == 1
    assert ErasureLog.objects.count() == 3


def test_import_files_and_webhook_bodies_expire_and_dry_run_lists_without_changing(
    campaign, marketer, rep, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    settings.LEADBRIDGE_WEBHOOK_PRIVATE_TARGETS = True
    now = datetime(2026, 6, 1, 12, 0, tzinfo=TZ)
    job = ImportJob(
        campaign=campaign, file_name="a.csv", status="done", finished_at=now - timedelta(days=90)
    )
    job.file.save("a.csv", ContentFile(b"Name\nX\n"), save=True)
    hook = webhook_subscription_create(
        user=rep, name="h", url="https://h.example/", events=[Event.LEAD_CREATED]
    )
    lead = receive_lead(campaign=campaign)
    delivery = WebhookDelivery.objects.get(subscription=hook)
    WebhookDelivery.objects.filter(pk=delivery.pk).update(
        status="delivered", updated_at=now - timedelta(days=29)
    )
    out = StringIO()
    call_command("privacy_retention", "--dry-run", f"--now={now.isoformat()}", stdout=out)
    assert "0 import file(s)" in out.getvalue() and "0 webhook" in out.getvalue()
    later = now + timedelta(days=1, minutes=1)
    out = StringIO()
    call_command("privacy_retention", "--dry-run", f"--now={later.isoformat()}", stdout=out)
    assert f"import file of job {job.pk}" in out.getvalue() and "1 webhook" in out.getvalue()
    assert ImportJob.objects.get(pk=job.pk).file  # dry run: still there
    report = retention_apply(now=later)
    assert (report.files, report.payloads) == (1, 1)
    assert not ImportJob.objects.get(pk=job.pk).file
    assert not list(tmp_path.rglob("*.csv"))
    assert WebhookDelivery.objects.get(pk=delivery.pk).payload is None
    assert Lead.objects.get(pk=lead.pk).contact_name != "—"


def test_beat_runs_retention_and_each_tick_expires_before_the_next():
    entry = settings.CELERY_BEAT_SCHEDULE["privacy-retention"]
    assert entry["task"] == "privacy.tasks.retention_task"
    assert entry["options"]["expires"] < 3600  # hourly
    assert timezone.now()  # (the task takes its now from the clock)
