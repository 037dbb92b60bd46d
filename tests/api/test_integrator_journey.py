"""The issue's "done when": with nothing but /api/v1/docs/, an integrator makes a token,
posts a lead, gets a signed webhook when it goes overdue, and marks it handled."""

import json
from datetime import datetime

import pytest
from rest_framework.test import APIClient

from followups.tasks import sweep_overdue_task
from integrations.services import webhook_deliveries_send, webhook_verify
from integrations.tasks import deliver_webhooks_task
from leadbridge.calendar import TZ

from .test_webhooks import Receiver


@pytest.mark.django_db
def test_an_integrator_goes_from_the_docs_page_to_a_handled_overdue_follow_up(
    campaign, rep, time_machine
):
    docs = APIClient().get("/api/v1/docs/")
    assert docs.status_code == 200
    guide = (
        APIClient()
        .get("/api/v1/schema/", HTTP_ACCEPT="application/json")
        .json()["info"]["description"]
    )
    for step in (
        "/api/v1/auth/token/",
        "Idempotency-Key",
        "/api/v1/webhooks/",
        "LeadBridge-Signature",
        "/dispatch/",
    ):
        assert step in guide

    receiver = Receiver()
    try:
        time_machine.move_to(datetime(2026, 11, 17, 10, 0, tzinfo=TZ), tick=False)  # a Tuesday
        client = APIClient()
        made = client.post(
            "/api/v1/auth/token/",
            {"username": "rita", "password": "pw", "name": "Website"},
            format="json",
        )
        client.credentials(HTTP_AUTHORIZATION=f"Token {made.json()['key']}")
        hook = client.post(
            "/api/v1/webhooks/",
            {"name": "Shop", "url": receiver.url, "events": ["followup.overdue"]},
            format="json",
        ).json()
        lead = client.post(
            "/api/v1/leads/",
            {
                "campaign": campaign.pk,
                "company": "Kunde AG",
                "contact_name": "Kim",
                "email": "kim@kunde.example",
                "phone": "+49 89 555",
                "requests_material": True,
                "wants_call": False,
                "received_at": "2026-11-17T10:00:00+01:00",
                "external_id": "shop-1",
            },
            format="json",
            HTTP_IDEMPOTENCY_KEY="shop-1",
        ).json()
        assert lead["intake"] == "created"

        time_machine.move_to(
            datetime(2026, 11, 20, 9, 0, tzinfo=TZ), tick=False
        )  # material 2 days late
        sweep_overdue_task.run()
        deliver_webhooks_task.run()
        assert len(receiver.calls) == 2  # send material, and accept/reject: both overdue
        for headers, body in receiver.calls:
            assert headers["LeadBridge-Event"] == "followup.overdue"
            assert webhook_verify(
                secret=hook["secret"],
                header=headers["LeadBridge-Signature"],
                body=body,
                now=datetime(2026, 11, 20, 9, 0, tzinfo=TZ).timestamp(),
            )
        followups = {
            f["kind"]: f
            for f in (json.loads(body)["data"]["followup"] for _h, body in receiver.calls)
        }
        followup = followups["material"]
        assert followup["lead"] == lead["id"] and followup["state"] == "overdue"

        handled = client.post(
            f"/api/v1/followups/{followup['id']}/dispatch/", {"postal": True}, format="json"
        )
        assert handled.status_code == 200 and handled.json()["followup"]["state"] == "done"
        listed = client.get(f"/api/v1/followups/?lead={lead['id']}&state=overdue").json()["results"]
        assert [f["kind"] for f in listed] == ["decision"]  # the material one is handled
        assert (
            webhook_deliveries_send(now=datetime(2026, 11, 20, 9, 5, tzinfo=TZ)).delivered == 0
        )  # sent once
    finally:
        receiver.close()
