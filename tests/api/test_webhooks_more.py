"""More webhook events, a test delivery (ping), secret rotation with an overlap."""

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from followups.models import FollowUp
from followups.services import followup_complete
from integrations.models import Event, WebhookDelivery, WebhookSubscription
from integrations.services import (
    webhook_deliveries_send,
    webhook_secret_rotate,
    webhook_subscription_create,
    webhook_verify,
)
from leads.models import Decision
from leads.services import lead_decide

from ..factories import receive_lead
from .test_webhooks import receiver  # noqa: F401  (the fixture)


@pytest.mark.django_db
def test_a_ping_is_delivered_signed_through_the_normal_path(rep_api, rep, receiver):  # noqa: F811
    made = rep_api.post(
        "/api/v1/webhooks/",
        {"name": "CRM", "url": receiver.url, "events": ["lead.created"]},
        format="json",
    ).json()
    answer = rep_api.post(f"/api/v1/webhooks/{made['id']}/ping/")
    assert answer.status_code == 201 and answer.json()["event"] == "ping"
    assert webhook_deliveries_send(now=timezone.now()).delivered == 1
    headers, body = receiver.calls[0]
    assert headers["LeadBridge-Event"] == "ping"
    assert webhook_verify(
        secret=made["secret"], header=headers["LeadBridge-Signature"], body=body, now=time.time()
    )


@pytest.mark.django_db
def test_ping_is_not_an_event_to_subscribe_to(rep_api):
    answer = rep_api.post(
        "/api/v1/webhooks/",
        {"name": "CRM", "url": "https://hooks.example.com/in", "events": ["ping"]},
        format="json",
    )
    assert answer.status_code == 400


@pytest.mark.django_db
def test_the_integrations_page_sends_a_test_delivery(client, rep, settings):
    settings.LEADBRIDGE_WEBHOOK_PRIVATE_TARGETS = True
    sub = webhook_subscription_create(
        user=rep, name="CRM", url="https://hooks.example.com/in", events=[Event.LEAD_CREATED]
    )
    client.force_login(rep)
    page = client.get("/integrations/")
    assert f"/integrations/webhooks/{sub.pk}/ping/" in page.content.decode()
    client.post(f"/integrations/webhooks/{sub.pk}/ping/")
    assert WebhookDelivery.objects.filter(subscription=sub, event=Event.PING).count() == 1


@pytest.mark.django_db
def test_after_a_rotation_both_secrets_verify_until_the_overlap_ends(rep, receiver):  # noqa: F811
    sub = webhook_subscription_create(
        user=rep, name="CRM", url=receiver.url, events=[Event.LEAD_CREATED]
    )
    old = sub.secret
    now = timezone.now()
    sub = webhook_secret_rotate(subscription=sub, now=now, overlap=timedelta(hours=1))
    assert sub.secret != old
    from integrations.services import webhook_ping

    webhook_ping(subscription=sub, now=now)
    webhook_deliveries_send(now=now)
    headers, body = receiver.calls[-1]
    header = headers["LeadBridge-Signature"]
    assert header.count("v1=") == 2
    for secret in (sub.secret, old):
        assert webhook_verify(secret=secret, header=header, body=body, now=now.timestamp())
    later = now + timedelta(hours=1, seconds=1)
    webhook_ping(subscription=sub, now=later)
    webhook_deliveries_send(now=later)
    headers, body = receiver.calls[-1]
    header = headers["LeadBridge-Signature"]
    assert webhook_verify(secret=sub.secret, header=header, body=body, now=later.timestamp())
    assert not webhook_verify(secret=old, header=header, body=body, now=later.timestamp())


@pytest.mark.django_db
def test_rotating_over_the_api_shows_the_new_secret_once(rep_api, rep):
    sub = webhook_subscription_create(
        user=rep, name="CRM", url="https://hooks.example.com/in", events=[Event.LEAD_CREATED]
    )
    answer = rep_api.post(f"/api/v1/webhooks/{sub.pk}/rotate-secret/")
    assert answer.status_code == 200
    assert answer.json()["secret"] == WebhookSubscription.objects.get(pk=sub.pk).secret
    assert answer.json()["previous_secret_until"]
    assert "secret" not in rep_api.get(f"/api/v1/webhooks/{sub.pk}/").json()


@pytest.mark.django_db
def test_stage_changes_and_completed_follow_ups_are_announced(campaign, rep, settings):
    settings.LEADBRIDGE_WEBHOOK_PRIVATE_TARGETS = True
    webhook_subscription_create(
        user=rep,
        name="CRM",
        url="https://hooks.example.com/in",
        events=[Event.LEAD_STAGE_CHANGED, Event.FOLLOWUP_COMPLETED],
    )
    lead = receive_lead(campaign=campaign, requests_material=True)
    now = timezone.now()
    material = lead.followups.get(kind=FollowUp.Kind.MATERIAL)
    followup_complete(followup=material, by=rep, at=now, outcome="done")
    lead_decide(lead=lead, by=rep, at=now, decision=Decision.REJECTED, reason="no_budget")
    events = sorted(WebhookDelivery.objects.values_list("event", "subject"))
    decision = lead.followups.get(kind=FollowUp.Kind.DECISION)
    assert (Event.FOLLOWUP_COMPLETED, f"followup:{material.pk}") in events
    assert (Event.FOLLOWUP_COMPLETED, f"followup:{decision.pk}") in events
    assert (Event.LEAD_STAGE_CHANGED, f"lead:{lead.pk}>rejected") in events
