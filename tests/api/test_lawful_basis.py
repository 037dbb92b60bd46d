"""The API records why a lead may be kept (GDPR Art. 6(1)): a field of each lead, single
and bulk, with "contract" (a pre-contract enquiry) as the documented default."""

from datetime import datetime

import pytest

from leads.models import Lead

from ..problems import error_fields
from .conftest import lead_payload

RECEIVED = datetime.fromisoformat("2026-11-17T10:00:00+01:00")
CONSENTED = "2026-11-17T09:58:00+01:00"


@pytest.mark.django_db
def test_a_lead_without_a_basis_is_a_pre_contract_enquiry_recorded_by_the_api(
    marketing_api, campaign, rep
):
    answer = marketing_api.post("/api/v1/leads/", lead_payload(campaign), format="json")
    assert answer.status_code == 201
    lead = Lead.objects.get()
    assert (lead.lawful_basis, lead.lawful_basis_source, lead.lawful_basis_at) == (
        "contract",
        "api",
        RECEIVED,
    )
    body = answer.json()
    assert (body["lawful_basis"], body["lawful_basis_source"]) == ("contract", "api")
    assert datetime.fromisoformat(body["lawful_basis_at"]) == RECEIVED


@pytest.mark.django_db
def test_consent_is_recorded_with_its_text_language_and_time(marketing_api, campaign, rep):
    payload = lead_payload(
        campaign,
        lawful_basis="consent",
        consent_text="Ich bin einverstanden.",
        consent_at=CONSENTED,
        consent_language="de",
    )
    assert marketing_api.post("/api/v1/leads/", payload, format="json").status_code == 201
    lead = Lead.objects.get()
    assert (lead.lawful_basis, lead.lawful_basis_source) == ("consent", "api")
    assert lead.lawful_basis_at == lead.consent_at == datetime.fromisoformat(CONSENTED)
    assert (lead.consent_text, lead.consent_language) == ("Ich bin einverstanden.", "de")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"lawful_basis": "consent"}, "lawful_basis"),
        ({"lawful_basis": "consent", "consent_text": "Ja."}, "lawful_basis"),
        ({"lawful_basis": "consent", "consent_at": CONSENTED}, "lawful_basis"),
        ({"lawful_basis": "because"}, "lawful_basis"),
        ({"lawful_basis": None}, "lawful_basis"),
        ({"consent_language": "Deutsch"}, "consent_language"),
    ],
    ids=["consent-bare", "consent-no-time", "consent-no-text", "unknown", "null", "language"],
)
def test_a_basis_that_cannot_be_shown_is_a_400_naming_the_field(
    marketing_api, campaign, rep, fields, field
):
    answer = marketing_api.post("/api/v1/leads/", lead_payload(campaign, **fields), format="json")
    assert answer.status_code == 400
    assert field in error_fields(answer), answer.json()
    assert not Lead.objects.exists()


@pytest.mark.django_db
def test_bulk_intake_records_each_leads_basis_and_refuses_unprovable_consent(
    marketing_api, campaign, rep
):
    leads = [
        lead_payload(campaign, external_id="b-0", email="b0@example.com"),
        lead_payload(
            campaign, external_id="b-1", email="b1@example.com", lawful_basis="legitimate_interest"
        ),
        lead_payload(
            campaign,
            external_id="b-2",
            email="b2@example.com",
            lawful_basis="consent",
            consent_text="I agree.",
            consent_at=CONSENTED,
            consent_language="en",
        ),
        lead_payload(campaign, external_id="b-3", email="b3@example.com", lawful_basis="consent"),
    ]
    body = marketing_api.post("/api/v1/leads/bulk/", {"leads": leads}, format="json").json()
    assert [r["status"] for r in body["results"]] == ["created", "created", "created", "invalid"]
    assert set(body["results"][3]["errors"]) == {"lawful_basis"}
    stored = {
        lead.external_id: (
            lead.lawful_basis,
            lead.lawful_basis_source,
            lead.lawful_basis_at,
            lead.consent_language,
        )
        for lead in Lead.objects.all()
    }
    assert stored == {
        "b-0": ("contract", "api", RECEIVED, ""),
        "b-1": ("legitimate_interest", "api", RECEIVED, ""),
        "b-2": ("consent", "api", datetime.fromisoformat(CONSENTED), "en"),
    }
