"""Digital material goes out through an outbox: written with the dispatch, sent by the
worker once, a failure kept on the row for a person to retry."""

import smtplib
from datetime import datetime

import pytest
from django.conf import settings
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction

from campaigns.models import MaterialEmail
from campaigns.services import material_emails_send
from followups.services import material_dispatch
from leadbridge.calendar import TZ

from ..factories import InfoMaterialFactory, receive_lead

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 17, 10, 0, tzinfo=TZ)


class SmtpDown(BaseEmailBackend):
    """Stands in for an SMTP server that refuses the connection."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPConnectError(421, "service not available")


@pytest.fixture
def dispatched(campaign, rep):
    campaign.materials.set(
        [InfoMaterialFactory(kind="digital", title="Whitepaper", url="https://example.com/wp")]
    )
    lead = receive_lead(
        campaign=campaign, received_at=NOW, requests_material=True, email="kunde@example.com"
    )
    material_dispatch(followup=lead.followups.get(kind="material"), by=rep, at=NOW, postal=False)
    return lead


def test_the_dispatch_writes_the_email_in_its_own_transaction_and_the_worker_sends_it_once(
    dispatched,
):
    row = MaterialEmail.objects.get()
    assert (row.lead, row.to, row.state, row.created_at) == (
        dispatched,
        "kunde@example.com",
        MaterialEmail.State.PENDING,
        NOW,
    )
    assert row.followup == dispatched.followups.get(kind="material")
    assert mail.outbox == []

    assert material_emails_send(now=NOW) == 1
    assert material_emails_send(now=NOW) == 0  # a doubled or retried task sends nothing
    row.refresh_from_db()
    assert (row.state, row.sent_at, row.error) == (MaterialEmail.State.SENT, NOW, "")
    assert [m.to for m in mail.outbox] == [["kunde@example.com"]]
    assert mail.outbox[0].subject == "Whitepaper"


def test_a_dispatch_that_rolls_back_leaves_no_email_behind(campaign, rep):
    campaign.materials.set([InfoMaterialFactory(kind="digital")])
    lead = receive_lead(
        campaign=campaign, received_at=NOW, requests_material=True, email="kunde@example.com"
    )
    with pytest.raises(RuntimeError), transaction.atomic():
        material_dispatch(
            followup=lead.followups.get(kind="material"), by=rep, at=NOW, postal=False
        )
        raise RuntimeError("the request failed after the dispatch")
    assert not MaterialEmail.objects.exists()
    assert material_emails_send(now=NOW) == 0


def test_postal_material_writes_no_email(campaign, rep):
    lead = receive_lead(campaign=campaign, received_at=NOW, requests_material=True)
    material_dispatch(followup=lead.followups.get(kind="material"), by=rep, at=NOW, postal=True)
    assert not MaterialEmail.objects.exists()


def test_a_claimed_email_is_never_sent_again(dispatched):
    """A worker killed between claim and send leaves the row in "sending": not resent."""
    MaterialEmail.objects.update(state=MaterialEmail.State.SENDING)
    assert material_emails_send(now=NOW) == 0
    assert mail.outbox == []


def test_smtp_down_marks_the_row_failed_with_the_reason_and_a_person_can_send_it_again(
    dispatched, settings, admin_client
):
    settings.EMAIL_BACKEND = f"{__name__}.SmtpDown"
    assert material_emails_send(now=NOW) == 0
    row = MaterialEmail.objects.get()
    assert row.state == MaterialEmail.State.FAILED and "service not available" in row.error
    assert material_emails_send(now=NOW) == 0  # failed rows wait for a person

    response = admin_client.post(
        "/admin/campaigns/materialemail/",
        {"action": "send_again", "_selected_action": [row.pk]},
    )
    assert response.status_code == 302
    assert MaterialEmail.objects.get().state == MaterialEmail.State.PENDING
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert material_emails_send(now=NOW) == 1
    assert [m.to for m in mail.outbox] == [["kunde@example.com"]]


def test_the_worker_reads_the_outbox_every_ten_seconds_and_skips_stale_ticks():
    entry = settings.CELERY_BEAT_SCHEDULE["send-material-emails"]
    assert entry["task"] == "campaigns.tasks.send_material_emails_task"
    assert entry["options"]["expires"] < entry["schedule"] <= 10
