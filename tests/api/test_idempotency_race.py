"""Two requests for one lead at the same moment, on two PostgreSQL connections: one lead."""

import time

import pytest

from leads.models import Lead

from ..concurrency import at_once
from .conftest import api_client, lead_payload

pytestmark = [
    pytest.mark.postgres,  # row locks
    pytest.mark.django_db(transaction=True),
]


def _both_at_once(requests):
    """Run the request callables on their own threads (own connections), started together."""
    return at_once(*requests)


def _slow(monkeypatch, module, name):
    """Hold the first request inside its transaction long enough for the second to arrive."""
    original = getattr(module, name)

    def slow(*args, **kwargs):
        result = original(*args, **kwargs)
        time.sleep(0.3)
        return result

    monkeypatch.setattr(module, name, slow)


def test_two_requests_with_one_idempotency_key_at_once_make_one_lead(
    monkeypatch, campaign, rep, marketer
):
    from leads import api

    _slow(monkeypatch, api, "lead_receive")
    clients = [api_client(marketer), api_client(marketer)]
    payload = lead_payload(campaign, external_id="")
    answers = _both_at_once(
        [
            lambda c=c: c.post(
                "/api/v1/leads/", payload, format="json", HTTP_IDEMPOTENCY_KEY="same-key"
            )
            for c in clients
        ]
    )
    # The waiting request replays the winner's answer: the same 201 and body.
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json() == answers[1].json()
    assert sorted(a.get("Idempotent-Replayed", "") for a in answers) == ["", "true"]
    assert Lead.objects.count() == 1


def test_two_requests_with_one_external_id_at_once_make_one_lead(
    monkeypatch, campaign, rep, marketer
):
    from leads.intake import pipeline

    # After the repeat check, before the write: both requests find no earlier lead.
    _slow(monkeypatch, pipeline, "initial_followups")
    clients = [api_client(marketer), api_client(marketer)]
    answers = _both_at_once(
        [
            lambda c=c: c.post("/api/v1/leads/", lead_payload(campaign), format="json")
            for c in clients
        ]
    )
    assert sorted(a.status_code for a in answers) == [200, 201]
    assert {a.json()["intake"] for a in answers} == {"created", "existing"}
    assert Lead.objects.count() == 1


def test_a_bulk_request_racing_a_single_one_for_an_external_id_makes_one_lead(
    monkeypatch, campaign, rep, marketer
):
    from leads.intake import pipeline

    # After the repeat check, before the write: both requests find no earlier lead.
    _slow(monkeypatch, pipeline, "initial_followups")
    single, bulk = api_client(marketer), api_client(marketer)
    items = [
        lead_payload(campaign, external_id=f"form-{i}", email=f"r{i}@example.com")
        for i in range(1, 4)
    ]
    answers = _both_at_once(
        [
            lambda: single.post("/api/v1/leads/", lead_payload(campaign), format="json"),
            lambda: bulk.post("/api/v1/leads/bulk/", {"leads": items}, format="json"),
        ]
    )
    assert all(a.status_code in {200, 201} for a in answers)
    assert Lead.objects.filter(external_id="form-1").count() == 1
    assert Lead.objects.count() == 3
