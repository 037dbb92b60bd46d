"""V3: deduplication never writes to, or names, a lead outside the sender's scope.

A person known only to a team the sender cannot see is new to the sender: a new lead,
answered like any other (201 "created"), and the other team's lead stays as it was.
"""

import pytest

from leads.models import Lead, LeadEvent

from ..api.conftest import api_client, lead_payload
from ..factories import receive_lead


def _team_a_lead(campaign):
    lead = receive_lead(
        campaign=campaign, email="erika@muster.example", phone="", street="", city=""
    )
    assert lead.team.name == "Vertrieb Süd"
    return lead


def _state(lead):
    lead.refresh_from_db()
    events = list(LeadEvent.objects.filter(lead=lead).values_list("kind", "data"))
    return (lead.phone, lead.street, lead.city, lead.updated_at, events)


@pytest.mark.django_db
@pytest.mark.parametrize("on_duplicate", ["merge", "skip"])
def test_an_outsiders_duplicate_leaves_the_hidden_lead_alone_and_names_nothing(
    campaign, rep, other_team_rep, on_duplicate
):
    known = _team_a_lead(campaign)
    before = _state(known)
    answer = api_client(other_team_rep).post(
        f"/api/v1/leads/?on_duplicate={on_duplicate}",
        lead_payload(
            campaign, external_id="", phone="+49 40 999999", street="Hafenstraße 1", city="Hamburg"
        ),
        format="json",
    )
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["intake"] == "created" and body["id"] != known.pk
    assert _state(known) == before
    assert Lead.objects.filter(email="erika@muster.example").count() == 2


@pytest.mark.django_db
def test_an_outsiders_bulk_duplicates_leave_the_hidden_lead_alone(campaign, rep, other_team_rep):
    known = _team_a_lead(campaign)
    before = _state(known)
    answer = api_client(other_team_rep).post(
        "/api/v1/leads/bulk/",
        {
            "on_duplicate": "merge",
            "leads": [lead_payload(campaign, external_id="", phone="+49 40 999999")],
        },
        format="json",
    )
    assert answer.status_code == 200, answer.content
    result = answer.json()["results"][0]
    assert result["status"] == "created" and result["id"] != known.pk
    assert _state(known) == before


@pytest.mark.django_db
def test_a_duplicate_within_the_senders_scope_is_still_merged(campaign, rep):
    known = _team_a_lead(campaign)
    answer = api_client(rep).post(
        "/api/v1/leads/?on_duplicate=merge",
        lead_payload(campaign, external_id="", phone="+49 89 7654321"),
        format="json",
    )
    assert answer.status_code == 200 and answer.json()["intake"] == "merged"
    assert answer.json()["id"] == known.pk
    known.refresh_from_db()
    assert known.phone == "+49 89 7654321"


@pytest.mark.django_db
def test_the_manual_entry_form_names_no_lead_the_user_cannot_see(
    client, campaign, rep, other_team_rep
):
    known = _team_a_lead(campaign)
    client.force_login(other_team_rep)
    response = client.post(
        "/campaigns/leads/new/",
        {
            "channel": "phone",
            "received_at": "2026-01-05T10:00",
            "contact_name": "Erika Mustermann",
            "company": "Muster GmbH",
            "email": "erika@muster.example",
            "country": "DE",
            "lawful_basis": "contract",
        },
        HTTP_ACCEPT_LANGUAGE="en",
        follow=True,
    )
    page = response.content.decode()
    assert "Lead saved" in page
    assert "known already" not in page and f"lead {known.pk}" not in page
    # Someone who may see it is still pointed to it.
    client.force_login(rep)
    response = client.post(
        "/campaigns/leads/new/",
        {
            "channel": "phone",
            "received_at": "2026-01-05T10:00",
            "contact_name": "Erika Mustermann",
            "company": "Muster GmbH",
            "email": "erika@muster.example",
            "country": "DE",
            "lawful_basis": "contract",
        },
        HTTP_ACCEPT_LANGUAGE="en",
        follow=True,
    )
    assert f"This person is known already: see lead {known.pk}." in response.content.decode()
