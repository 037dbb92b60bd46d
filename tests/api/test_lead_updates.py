"""PATCH /api/v1/leads/{id}/ (contact, stage, owner) with ETag / If-Match; rate-limit headers."""

import pytest

from integrations.models import Event, WebhookDelivery
from integrations.services import webhook_subscription_create
from leads.models import LeadEvent, Stage
from leads.services import lead_qualify

from ..factories import receive_lead
from ..problems import error_fields


@pytest.fixture
def lead(campaign, rep):
    return receive_lead(campaign=campaign, email="erika@muster.example")


@pytest.mark.django_db
def test_contact_fields_change_with_one_timeline_entry_and_a_lead_updated_event(
    rep_api, lead, rep, settings
):
    settings.LEADBRIDGE_WEBHOOK_PRIVATE_TARGETS = True
    webhook_subscription_create(
        user=rep, name="CRM", url="http://127.0.0.1:9/in", events=[Event.LEAD_UPDATED]
    )
    answer = rep_api.patch(
        f"/api/v1/leads/{lead.pk}/",
        {"contact_name": "Erika Beispiel", "email": "Erika@Beispiel.example", "city": "Ulm"},
        format="json",
    )
    assert answer.status_code == 200, answer.json()
    body = answer.json()
    assert (body["contact_name"], body["city"]) == ("Erika Beispiel", "Ulm")
    lead.refresh_from_db()
    assert lead.dedup_key == "e:erika@beispiel.example"
    edited = LeadEvent.objects.get(lead=lead, kind=LeadEvent.Kind.EDITED)
    assert edited.data == {"fields": ["city", "contact_name", "email"]}
    assert WebhookDelivery.objects.filter(event=Event.LEAD_UPDATED, lead=lead).count() == 1
    found = rep_api.get("/api/v1/leads/", {"email": "erika@BEISPIEL.example"}).json()
    assert [row["id"] for row in found["results"]] == [lead.pk]


@pytest.mark.django_db
def test_a_stage_change_goes_through_the_funnel_rules(rep_api, marketing_api, lead, rep):
    lead_qualify(
        lead=lead,
        by=rep,
        at=lead.received_at,
        next_step="visit",
        due_at=lead.received_at.replace(year=2099),
    )
    url = f"/api/v1/leads/{lead.pk}/"
    assert marketing_api.patch(url, {"stage": "presales"}, format="json").status_code == 403
    moved = rep_api.patch(url, {"stage": "presales"}, format="json")
    assert moved.status_code == 200 and moved.json()["stage"] == Stage.PRESALES
    assert LeadEvent.objects.filter(lead=lead, kind=LeadEvent.Kind.STAGE_CHANGED).count() == 2
    assert rep_api.patch(url, {"stage": "aftersales"}, format="json").status_code == 409
    lost = rep_api.patch(url, {"stage": "lost"}, format="json")
    assert lost.status_code == 400 and "stage_reason" in error_fields(lost)
    prospect = rep_api.patch(url, {"stage": "prospect"}, format="json")
    assert prospect.status_code == 400


@pytest.mark.django_db
def test_if_match_guards_against_lost_updates(rep_api, marketing_api, lead):
    url = f"/api/v1/leads/{lead.pk}/"
    read = rep_api.get(url)
    etag = read["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert rep_api.get(url)["ETag"] == etag  # same state, same tag
    first = marketing_api.patch(url, {"phone": "+49 89 1"}, format="json", HTTP_IF_MATCH=etag)
    assert first.status_code == 200 and first["ETag"] != etag
    late = rep_api.patch(url, {"phone": "+49 89 2"}, format="json", HTTP_IF_MATCH=etag)
    assert late.status_code == 412
    lead.refresh_from_db()
    assert lead.phone == "+49 89 1"
    assert (
        rep_api.patch(url, {"phone": "+49 89 3"}, format="json", HTTP_IF_MATCH="*").status_code
        == 200
    )
    weak = rep_api.patch(url, {"city": "Ulm"}, format="json", HTTP_IF_MATCH="W/" + first["ETag"])
    assert weak.status_code == 412


@pytest.mark.django_db
def test_an_empty_patch_changes_nothing(rep_api, lead):
    before = lead.updated_at
    answer = rep_api.patch(f"/api/v1/leads/{lead.pk}/", {}, format="json")
    assert answer.status_code == 200
    lead.refresh_from_db()
    assert lead.updated_at == before


@pytest.mark.django_db
def test_successful_answers_carry_rate_limit_headers(rep_api, settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "token": "5/min",
        },
    }
    first = rep_api.get("/api/v1/leads/")
    second = rep_api.get("/api/v1/leads/")
    assert first.status_code == 200
    assert first["RateLimit-Limit"] == "5"
    assert (first["RateLimit-Remaining"], second["RateLimit-Remaining"]) == ("4", "3")
    assert 1 <= int(first["RateLimit-Reset"]) <= 60


def test_an_erased_persons_email_cannot_be_patched_onto_a_lead(rep_api, lead, manager):
    """The suppression list holds on PATCH as on intake."""
    from privacy.services import person_erase

    other = receive_lead(campaign=lead.campaign, contact_name="Emma Erased", email="e@x.example")
    person_erase(lead=other, by=manager, reason="Art. 17", now=other.received_at)
    answer = rep_api.patch(f"/api/v1/leads/{lead.pk}/", {"email": "E@x.example"}, format="json")
    assert answer.status_code == 400 and "email" in error_fields(answer)
    lead.refresh_from_db()
    assert lead.email != "E@x.example"
