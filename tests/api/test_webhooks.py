"""Outbound webhooks: an outbox of delivery rows, signed, retried with backoff, visible."""

import json
import threading
import time
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings

from followups.services import sweep_overdue
from integrations import services
from integrations.models import WebhookDelivery, WebhookSubscription
from integrations.services import (
    webhook_deliveries_send,
    webhook_subscription_create,
    webhook_verify,
)
from leadbridge.calendar import TZ
from leads.services import lead_decide

from ..concurrency import at_once
from ..factories import receive_lead
from ..problems import error_fields, error_messages
from .conftest import lead_payload

RECEIVED = datetime(2026, 11, 17, 10, 0, tzinfo=TZ)  # Tuesday


class Receiver:
    """A local HTTP endpoint that records what it is sent and answers with `status`.

    It listens on 127.0.0.1, a private address: while it is open, webhooks may go
    to private addresses (LEADBRIDGE_WEBHOOK_PRIVATE_TARGETS)."""

    def __init__(self, status=200, delay=0.0):
        self.status, self.delay, self.calls = status, delay, []
        self._private_targets = override_settings(LEADBRIDGE_WEBHOOK_PRIVATE_TARGETS=True)
        self._private_targets.enable()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.calls.append((self.headers, body))  # case-insensitive, as HTTP headers are
                time.sleep(outer.delay)
                self.send_response(outer.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self._private_targets.disable()


@pytest.fixture
def receiver():
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture(autouse=True)
def _fresh_sweep_cache(monkeypatch):
    monkeypatch.setattr(services, "_overdue_subscriptions", (None, 0.0, []))


@pytest.mark.django_db
def test_an_integration_subscribes_and_sees_its_secret_once(marketing_api, receiver):
    made = marketing_api.post(
        "/api/v1/webhooks/",
        {"name": "CRM", "url": receiver.url, "events": ["lead.created", "followup.overdue"]},
        format="json",
    )
    assert made.status_code == 201 and made.json()["secret"].startswith("whsec_")
    listed = marketing_api.get("/api/v1/webhooks/").json()["results"][0]
    assert "secret" not in listed and listed["events"] == ["lead.created", "followup.overdue"]
    bad = marketing_api.post(
        "/api/v1/webhooks/",
        {"name": "x", "url": "ftp://example.com", "events": ["lead.sold"]},
        format="json",
    )
    assert bad.status_code == 400 and error_fields(bad) >= {"url", "events.0"}


@pytest.mark.django_db
def test_a_received_lead_is_delivered_signed_to_its_subscriber(
    marketing_api, marketer, campaign, rep, receiver
):
    subscription = webhook_subscription_create(
        user=marketer, name="CRM", url=receiver.url, events=["lead.created"]
    )
    lead_id = marketing_api.post("/api/v1/leads/", lead_payload(campaign), format="json").json()[
        "id"
    ]
    delivery = WebhookDelivery.objects.get()
    assert (delivery.event, delivery.lead_id, delivery.status) == (
        "lead.created",
        lead_id,
        "pending",
    )
    report = webhook_deliveries_send(now=delivery.next_attempt_at)
    assert report.delivered == 1
    headers, body = receiver.calls[0]
    assert headers["LeadBridge-Event"] == "lead.created"
    assert webhook_verify(
        secret=subscription.secret,
        header=headers["LeadBridge-Signature"],
        body=body,
        now=time.time(),
        tolerance=10**9,
    )
    assert not webhook_verify(
        secret=subscription.secret,
        header=headers["LeadBridge-Signature"],
        body=body.replace(b"Erika", b"Eve"),
        now=time.time(),
        tolerance=10**9,
    )
    payload = json.loads(body)
    assert (
        payload["id"] == headers["LeadBridge-Delivery"] and payload["data"]["lead"]["id"] == lead_id
    )
    delivery.refresh_from_db()
    assert (delivery.status, delivery.response_code, delivery.attempts) == ("delivered", 200, 1)


@pytest.mark.django_db
def test_a_signature_older_than_five_minutes_is_refused_by_the_verifier():
    from integrations.services import webhook_signature

    body = b"{}"
    signature = webhook_signature(secret="s", timestamp=1000, body=body)
    assert webhook_verify(secret="s", header=f"t=1000,v1={signature}", body=body, now=1100)
    assert not webhook_verify(secret="s", header=f"t=1000,v1={signature}", body=body, now=1400)


@pytest.mark.django_db
def test_subscribers_only_hear_about_leads_they_may_see(campaign, rep, other_team_rep, receiver):
    webhook_subscription_create(
        user=other_team_rep, name="theirs", url=receiver.url, events=["lead.created"]
    )
    mine = webhook_subscription_create(
        user=rep, name="mine", url=receiver.url, events=["lead.created"]
    )
    receive_lead(campaign=campaign)
    assert list(WebhookDelivery.objects.values_list("subscription", flat=True)) == [mine.pk]


@pytest.mark.django_db
def test_a_follow_up_gone_overdue_is_queued_by_the_sweep_once(campaign, rep, marketer, receiver):
    webhook_subscription_create(
        user=marketer, name="CRM", url=receiver.url, events=["followup.overdue"]
    )
    lead = receive_lead(campaign=campaign, received_at=RECEIVED, requests_material=True)
    now = datetime(2026, 11, 20, 10, 0, tzinfo=TZ)
    sweep_overdue(now=now)
    sweep_overdue(now=now + timedelta(minutes=1))
    overdue = lead.followups.filter(escalation_level__gte=1)
    deliveries = WebhookDelivery.objects.filter(event="followup.overdue")
    assert sorted(deliveries.values_list("followup", flat=True)) == sorted(
        overdue.values_list("pk", flat=True)
    )
    assert deliveries.count() >= 1


@pytest.mark.django_db
def test_a_sweep_with_no_subscriber_asks_once(campaign, rep, manager):
    for i in range(5):
        receive_lead(
            campaign=campaign,
            received_at=RECEIVED,
            requests_material=True,
            email=f"s{i}@example.com",
        )
    with CaptureQueriesContext(connection) as queries:
        report = sweep_overdue(now=datetime(2026, 11, 20, 10, 0, tzinfo=TZ), batch_size=2)
    assert report.overdue == 10 and report.batches >= 5
    asked = [q for q in queries.captured_queries if "integrations_webhooksubscription" in q["sql"]]
    assert len(asked) == 1 and not WebhookDelivery.objects.exists()


@pytest.mark.django_db
def test_accepted_and_rejected_leads_are_announced(campaign, rep, marketer, receiver):
    webhook_subscription_create(
        user=marketer, name="CRM", url=receiver.url, events=["lead.accepted", "lead.rejected"]
    )
    first, second = (
        receive_lead(campaign=campaign),
        receive_lead(campaign=campaign, email="b@example.com"),
    )
    now = datetime(2026, 11, 18, 9, 0, tzinfo=TZ)
    lead_decide(lead=first, by=rep, at=now, decision="accepted")
    lead_decide(lead=second, by=rep, at=now, decision="rejected", reason="no_budget")
    assert set(WebhookDelivery.objects.values_list("event", "lead")) == {
        ("lead.accepted", first.pk),
        ("lead.rejected", second.pk),
    }


@pytest.mark.django_db
def test_failures_are_retried_with_exponential_backoff_then_given_up(campaign, rep, marketer):
    receiver = Receiver(status=500)
    try:
        webhook_subscription_create(
            user=marketer, name="CRM", url=receiver.url, events=["lead.created"]
        )
        receive_lead(campaign=campaign)
        delivery = WebhookDelivery.objects.get()
        now = delivery.next_attempt_at
        waits = []
        for _attempt in range(services.MAX_ATTEMPTS):
            assert (
                webhook_deliveries_send(now=now - timedelta(seconds=1)).retrying == 0
            )  # not due yet: untouched
            webhook_deliveries_send(now=now)
            delivery.refresh_from_db()
            if delivery.status == "failed":
                break
            waits.append(delivery.next_attempt_at - now)
            now = delivery.next_attempt_at
        assert waits[:4] == [
            timedelta(seconds=30),
            timedelta(minutes=1),
            timedelta(minutes=2),
            timedelta(minutes=4),
        ]
        assert (delivery.status, delivery.attempts, delivery.response_code) == (
            "failed",
            services.MAX_ATTEMPTS,
            500,
        )
        assert len(receiver.calls) == services.MAX_ATTEMPTS
        assert len({headers["LeadBridge-Delivery"] for headers, _body in receiver.calls}) == 1
        assert (
            len({body for _headers, body in receiver.calls}) == 1
        )  # every retry sends the same body
    finally:
        receiver.close()


@pytest.mark.django_db
def test_an_unreachable_receiver_is_recorded_and_retried(campaign, rep, marketer, settings):
    settings.LEADBRIDGE_WEBHOOK_PRIVATE_TARGETS = True
    webhook_subscription_create(
        user=marketer, name="gone", url="http://127.0.0.1:9/hook", events=["lead.created"]
    )
    receive_lead(campaign=campaign)
    delivery = WebhookDelivery.objects.get()
    webhook_deliveries_send(now=delivery.next_attempt_at, timeout=2)
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.response_code is None and delivery.last_error


@pytest.mark.django_db
def test_a_claim_left_by_a_killed_worker_is_taken_again_later(campaign, rep, marketer, receiver):
    webhook_subscription_create(
        user=marketer, name="CRM", url=receiver.url, events=["lead.created"]
    )
    receive_lead(campaign=campaign)
    delivery = WebhookDelivery.objects.get()
    now = delivery.next_attempt_at
    assert services._claim(now=now, size=10) == [delivery.pk]  # claimed, then the worker dies
    assert webhook_deliveries_send(now=now + timedelta(minutes=1)).delivered == 0
    assert webhook_deliveries_send(now=now + services.STALE_CLAIM).delivered == 1


@pytest.mark.django_db
def test_paused_subscriptions_keep_their_deliveries_waiting(campaign, rep, marketer, receiver):
    subscription = webhook_subscription_create(
        user=marketer, name="CRM", url=receiver.url, events=["lead.created"]
    )
    receive_lead(campaign=campaign)
    WebhookSubscription.objects.filter(pk=subscription.pk).update(is_active=False)
    delivery = WebhookDelivery.objects.get()
    assert webhook_deliveries_send(now=delivery.next_attempt_at).delivered == 0
    assert receiver.calls == []


@pytest.mark.django_db
def test_deliveries_and_their_status_are_visible_on_the_page_and_in_the_api(
    client, marketing_api, marketer, campaign, rep
):
    receiver = Receiver(status=503)
    try:
        webhook_subscription_create(
            user=marketer, name="CRM", url=receiver.url, events=["lead.created"]
        )
        lead = receive_lead(campaign=campaign)
        webhook_deliveries_send(now=WebhookDelivery.objects.get().next_attempt_at)
    finally:
        receiver.close()
    client.force_login(marketer)
    page = client.get("/integrations/").content.decode()
    assert "CRM" in page and "503" in page and f"lead:{lead.pk}" in page
    rows = marketing_api.get("/api/v1/webhook-deliveries/?status=pending").json()["results"]
    assert rows[0]["response_code"] == 503 and rows[0]["attempts"] == 1
    retried = marketing_api.post(f"/api/v1/webhook-deliveries/{rows[0]['id']}/retry/")
    assert retried.status_code == 200 and retried.json()["status"] == "pending"


@pytest.mark.django_db
def test_the_beat_schedule_ticks_the_delivery_task(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["deliver-webhooks"]
    assert entry["task"] == "integrations.tasks.deliver_webhooks_task"
    assert entry["options"]["expires"] < entry["schedule"]
    from integrations.tasks import deliver_webhooks_task

    assert deliver_webhooks_task.run() == "delivered 0, retrying 0, failed 0"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_at_once_send_each_delivery_once(campaign, rep, marketer):
    receiver = Receiver(delay=0.05)
    try:
        webhook_subscription_create(
            user=marketer, name="CRM", url=receiver.url, events=["lead.created"]
        )
        for i in range(12):
            receive_lead(campaign=campaign, email=f"w{i}@example.com")
        now = WebhookDelivery.objects.order_by("-next_attempt_at").first().next_attempt_at
        reports = at_once(*[lambda: webhook_deliveries_send(now=now, batch_size=3)] * 2)
        assert sum(r.delivered for r in reports) == 12 and len(receiver.calls) == 12
        assert len({headers["LeadBridge-Delivery"] for headers, _b in receiver.calls}) == 12
    finally:
        receiver.close()


# --- no requests into the server's own network (SSRF) --------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:5432/",
        "http://localhost:8000/admin/",
        "https://api.localhost/hook",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://10.1.2.3/hook",
        "http://192.168.0.10/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/hook",
        "http://0.0.0.0:6379/",
    ],
)
def test_a_webhook_to_a_private_address_is_refused_with_a_field_error(marketing_api, url):
    made = marketing_api.post(
        "/api/v1/webhooks/", {"name": "CRM", "url": url, "events": ["lead.created"]}, format="json"
    )
    assert made.status_code == 400, made.content
    assert "public addresses" in error_messages(made)["url"]
    assert not WebhookSubscription.objects.exists()


@pytest.mark.django_db
def test_a_public_webhook_url_is_accepted_and_a_private_one_cannot_be_patched_in(marketing_api):
    made = marketing_api.post(
        "/api/v1/webhooks/",
        {"name": "CRM", "url": "https://crm.example.com/hook", "events": ["lead.created"]},
        format="json",
    )
    assert made.status_code == 201, made.content
    patched = marketing_api.patch(
        f"/api/v1/webhooks/{made.json()['id']}/", {"url": "http://10.0.0.1/"}, format="json"
    )
    assert patched.status_code == 400
    assert WebhookSubscription.objects.get().url == "https://crm.example.com/hook"


@pytest.mark.django_db
def test_a_name_that_leads_to_a_private_address_gets_nothing_when_delivering(
    campaign, rep, marketer, receiver, settings
):
    # Saved while allowed (or re-pointed by DNS since): the connection itself is checked.
    subscription = webhook_subscription_create(
        user=marketer,
        name="CRM",
        url=receiver.url.replace("127.0.0.1", "localhost"),
        events=["lead.created"],
    )
    settings.LEADBRIDGE_WEBHOOK_PRIVATE_TARGETS = False
    receive_lead(campaign=campaign)
    delivery = WebhookDelivery.objects.get(subscription=subscription)
    webhook_deliveries_send(now=delivery.next_attempt_at, timeout=2)
    delivery.refresh_from_db()
    assert receiver.calls == []
    assert delivery.status == "pending" and "not a public address" in delivery.last_error
    settings.LEADBRIDGE_WEBHOOK_PRIVATE_TARGETS = True
    webhook_deliveries_send(now=delivery.next_attempt_at, timeout=2)
    delivery.refresh_from_db()
    assert delivery.status == "delivered" and len(receiver.calls) == 1


@pytest.mark.django_db
def test_lead_created_shows_the_lead_as_it_was_received_even_after_a_rejection(
    campaign, rep, marketer, receiver
):
    webhook_subscription_create(
        user=marketer, name="CRM", url=receiver.url, events=["lead.created", "lead.rejected"]
    )
    lead = receive_lead(campaign=campaign, received_at=RECEIVED, now=RECEIVED)
    later = RECEIVED + timedelta(hours=2)
    lead_decide(lead=lead, by=rep, at=later, decision="rejected", reason="no_budget")
    webhook_deliveries_send(now=later)
    webhook_deliveries_send(now=later)
    bodies = {json.loads(body)["event"]: json.loads(body) for _headers, body in receiver.calls}
    created, rejected = bodies["lead.created"], bodies["lead.rejected"]
    assert created["data"]["lead"]["decision"] != "rejected"
    assert rejected["data"]["lead"]["decision"] == "rejected"
    delivery = WebhookDelivery.objects.get(event="lead.created")
    assert created["id"] == str(delivery.event_id)
    assert datetime.fromisoformat(created["occurred_at"]) == delivery.occurred_at == RECEIVED


@pytest.mark.django_db
def test_a_leads_events_are_delivered_in_order_through_a_receiver_outage(campaign, rep, marketer):
    receiver = Receiver(status=503)
    try:
        webhook_subscription_create(
            user=marketer, name="CRM", url=receiver.url, events=["lead.created", "lead.rejected"]
        )
        lead = receive_lead(campaign=campaign, received_at=RECEIVED, now=RECEIVED)
        now = WebhookDelivery.objects.get().next_attempt_at
        webhook_deliveries_send(now=now)  # lead.created fails: retried in 30 s
        rejected_at = now + timedelta(seconds=5)
        lead_decide(lead=lead, by=rep, at=rejected_at, decision="rejected", reason="no_budget")
        # lead.rejected is due, but waits for lead.created's retry.
        webhook_deliveries_send(now=rejected_at)
        assert [json.loads(body)["event"] for _h, body in receiver.calls] == ["lead.created"]
        receiver.status = 200
        retry_at = WebhookDelivery.objects.get(event="lead.created").next_attempt_at
        for tick in range(3):
            webhook_deliveries_send(now=retry_at + timedelta(seconds=15 * tick))
        events = [json.loads(body)["event"] for _h, body in receiver.calls]
        assert events == ["lead.created", "lead.created", "lead.rejected"]
        assert set(WebhookDelivery.objects.values_list("status", flat=True)) == {"delivered"}
    finally:
        receiver.close()


@pytest.mark.django_db
def test_a_later_event_goes_out_once_the_earlier_one_has_finally_failed(campaign, rep, marketer):
    receiver = Receiver(status=500)
    try:
        webhook_subscription_create(
            user=marketer, name="CRM", url=receiver.url, events=["lead.created", "lead.accepted"]
        )
        lead = receive_lead(campaign=campaign, received_at=RECEIVED, now=RECEIVED)
        lead_decide(lead=lead, by=rep, at=RECEIVED, decision="accepted")
        WebhookDelivery.objects.filter(event="lead.created").update(
            attempts=services.MAX_ATTEMPTS - 1
        )
        now = RECEIVED + timedelta(minutes=1)
        webhook_deliveries_send(now=now)  # the last attempt: failed for good; then its follower
        assert [json.loads(b)["event"] for _h, b in receiver.calls] == [
            "lead.created",
            "lead.accepted",
        ]
        receiver.status = 200
        webhook_deliveries_send(now=now + timedelta(minutes=1))  # the follower's retry
        statuses = dict(WebhookDelivery.objects.values_list("event", "status"))
        assert statuses == {"lead.created": "failed", "lead.accepted": "delivered"}
    finally:
        receiver.close()
