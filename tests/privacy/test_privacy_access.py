"""Who may answer data requests: administrators (every lead) and team leads (their
team's leads, Lead.visible_to); every export is logged without the person's data."""

import json

import pytest
from django.test import Client

from accounts.models import Role
from privacy.models import ErasureLog, ExportLog
from privacy.services import email_hash

from ..api.conftest import api_client
from ..factories import UserFactory, receive_lead
from ..problems import assert_problem

pytestmark = pytest.mark.django_db


@pytest.fixture
def lead(campaign, rep):
    return receive_lead(
        campaign=campaign, contact_name="Paula Privat", email="Paula@Privat.example"
    )


def test_a_rep_and_marketing_are_turned_away(lead, rep, marketer):
    for user in (rep, marketer):
        client = Client()
        client.force_login(user)
        assert client.get("/privacy/", {"email": "paula@privat.example"}).status_code == 403
        assert api_client(user).get("/api/v1/privacy/export/", {"lead": lead.pk}).status_code == 403
    assert ExportLog.objects.count() == 0


def test_a_team_lead_of_another_team_finds_nothing_and_cannot_erase_by_lead(lead, other_team):
    outsider = UserFactory(username="nina", role=Role.MANAGER, team=other_team)
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(outsider)
    page = client.get("/privacy/", {"email": "paula@privat.example"})
    assert page.status_code == 200 and "Paula" not in page.content.decode()
    assert "1 more lead with this email belongs to another team" in page.content.decode()
    assert client.get("/privacy/export/", {"lead": lead.pk}).status_code == 404
    answer = client.post("/privacy/erase/", {"lead": lead.pk, "reason": "x", "confirm": "on"})
    assert answer.status_code == 404
    api = api_client(outsider)
    assert (
        api.post(
            "/api/v1/privacy/erase/", {"lead": lead.pk, "reason": "x"}, format="json"
        ).status_code
        == 404
    )
    assert ErasureLog.objects.count() == 0


def test_the_own_team_lead_exports_and_the_log_keeps_a_hash_not_the_address(lead, manager):
    api = api_client(manager)
    answer = api.get("/api/v1/privacy/export/", {"email": "PAULA@privat.example"})
    assert answer.status_code == 200 and answer.json()["leads"][0]["contact_name"] == "Paula Privat"
    log = ExportLog.objects.get()
    assert log.by == manager and log.subject_hash == email_hash("paula@privat.example")
    assert "privat" not in json.dumps([log.subject_hash, log.lead_ids, log.format])


@pytest.mark.parametrize(
    "query",
    [{}, {"lead": "x"}, {"lead": "9" * 40}, {"email": "\x00"}, {"email": "a@b.c", "extra": "1"}],
)
def test_bad_questions_are_400_in_the_api_error_shape(query, manager):
    answer = api_client(manager).get("/api/v1/privacy/export/", query)
    assert_problem(answer, 400)


def test_erasure_needs_a_reason_and_the_confirmation(lead, manager):
    client = Client()
    client.force_login(manager)
    assert client.post("/privacy/erase/", {"lead": lead.pk, "reason": "x"}).status_code == 400
    assert client.post("/privacy/erase/", {"lead": lead.pk, "confirm": "on"}).status_code == 400
    api = api_client(manager)
    assert api.post("/api/v1/privacy/erase/", {"lead": lead.pk}, format="json").status_code == 400
    assert ErasureLog.objects.count() == 0
    answer = api.post(
        "/api/v1/privacy/erase/", {"lead": lead.pk, "reason": "Art. 17"}, format="json"
    )
    assert answer.status_code == 200 and answer.json()["leads"] == [lead.pk]


def test_a_team_lead_of_another_team_neither_sees_nor_erases_copies_by_email(
    campaign, marketer, other_team
):
    """The API's stored answer names team A's person; team lead B asks by email."""
    from integrations.models import IdempotencyKey
    from privacy.models import Suppression

    stored = api_client(marketer).post(
        "/api/v1/leads/",
        {"campaign": campaign.pk, "contact_name": "Paula Privat", "email": "paula@privat.example"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="team-a-1",
    )
    assert stored.status_code == 201
    outsider = UserFactory(username="nina", role=Role.MANAGER, team=other_team)
    api = api_client(outsider)
    export = api.get("/api/v1/privacy/export/", {"email": "paula@privat.example"})
    assert "Privat" not in export.content.decode()
    erase = api.post(
        "/api/v1/privacy/erase/",
        {"email": "paula@privat.example", "reason": "x"},
        format="json",
    )
    assert erase.status_code == 404
    assert "Paula Privat" in json.dumps(IdempotencyKey.objects.get().response_body)
    assert Suppression.objects.count() == 0 and ErasureLog.objects.count() == 0
