"""Digital material asked for with consent is emailed on the API paths too (issue 16):
the same outbox row as for a web form, single POST and bulk alike."""

import pytest

from campaigns.models import MaterialEmail
from leads.models import Lead

from ..factories import CampaignFactory, InfoMaterialFactory
from .conftest import lead_payload

pytestmark = pytest.mark.django_db

CONSENT = {
    "consent_text": "Ja, schicken Sie mir die Unterlagen.",
    "consent_at": "2026-11-17T09:59:00+01:00",
    "consent_language": "de",
}


@pytest.fixture
def digital_campaign(team, marketer):
    whitepaper = InfoMaterialFactory(kind="digital", title="Whitepaper", url="https://x.de/wp")
    return CampaignFactory(name="Webinar", owner=marketer, team=team, materials=[whitepaper])


def test_a_single_api_lead_asking_for_digital_material_with_consent_gets_it_emailed(
    marketing_api, digital_campaign, rep
):
    response = marketing_api.post(
        "/api/v1/leads/",
        lead_payload(digital_campaign, wants_call=False, **CONSENT),
        format="json",
    )
    assert response.status_code == 201, response.content
    lead = Lead.objects.get()
    email = MaterialEmail.objects.get()
    assert (email.lead, email.to, email.state) == (lead, lead.email, MaterialEmail.State.PENDING)
    material = lead.followups.get(kind="material")
    assert material.outcome == "emailed" and material.completed_at is not None
    assert lead.followups.filter(kind="callback", completed_at__isnull=True).count() == 1
    assert lead.material_sent_at is not None


def test_bulk_api_leads_asking_for_digital_material_with_consent_get_it_emailed(
    marketing_api, digital_campaign, rep
):
    leads = [
        lead_payload(
            digital_campaign,
            external_id=f"m-{i}",
            email=f"m{i}@example.com",
            phone="",
            wants_call=False,
            **CONSENT,
        )
        for i in range(3)
    ]
    without_consent = lead_payload(
        digital_campaign, external_id="m-x", email="x@example.com", phone="", wants_call=False
    )
    response = marketing_api.post(
        "/api/v1/leads/bulk/", {"leads": [*leads, without_consent]}, format="json"
    )
    assert response.status_code == 200, response.content
    assert sorted(MaterialEmail.objects.values_list("to", flat=True)) == [
        "m0@example.com",
        "m1@example.com",
        "m2@example.com",
    ]
    for lead in Lead.objects.exclude(email="x@example.com"):
        assert lead.followups.get(kind="material").outcome == "emailed"
        assert lead.material_sent_at is not None
    assert (
        Lead.objects.get(email="x@example.com").followups.get(kind="material").completed_at is None
    )
