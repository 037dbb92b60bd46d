"""POST /api/v1/leads/: the handoff starts at the API as it does at the web form."""

import pytest

from followups.models import FollowUp
from integrations.models import IdempotencyKey
from leads.models import Lead

from ..factories import CampaignFactory, receive_lead
from ..problems import assert_problem, error_fields, error_messages
from .conftest import api_client, lead_payload


@pytest.mark.django_db
def test_a_lead_is_received_with_its_follow_ups_counted_from_received_at(
    marketing_api, campaign, rep
):
    answer = marketing_api.post("/api/v1/leads/", lead_payload(campaign), format="json")
    assert answer.status_code == 201
    body = answer.json()
    assert body["intake"] == "created" and body["source"] == "api"
    assert body["received_at"] == "2026-11-17T10:00:00+01:00"
    assert body["owner"] == rep.pk and body["team"] == campaign.team_id
    lead = Lead.objects.get(pk=body["id"])
    kinds = set(lead.followups.values_list("kind", flat=True))
    assert kinds == {FollowUp.Kind.MATERIAL, FollowUp.Kind.DECISION}
    assert all(f.starts_at == lead.received_at for f in lead.followups.all())


@pytest.mark.django_db
def test_the_same_external_id_again_answers_200_with_the_first_lead(marketing_api, campaign, rep):
    first = marketing_api.post("/api/v1/leads/", lead_payload(campaign), format="json").json()
    again = marketing_api.post(
        "/api/v1/leads/", lead_payload(campaign, company="Changed"), format="json"
    )
    assert again.status_code == 200
    assert again.json()["id"] == first["id"] and again.json()["intake"] == "existing"
    assert Lead.objects.count() == 1


@pytest.mark.django_db
def test_the_same_idempotency_key_again_replays_the_first_201_without_a_second_lead(
    marketing_api, campaign, rep
):
    payload = lead_payload(campaign, external_id="")
    first = marketing_api.post("/api/v1/leads/", payload, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    Lead.objects.filter(pk=first.json()["id"]).update(company="Changed since")
    again = marketing_api.post("/api/v1/leads/", payload, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert (first.status_code, again.status_code) == (201, 201)
    # The body as first answered (not rebuilt from the lead as it is now), marked replayed.
    assert again.json() == first.json() and again.json()["intake"] == "created"
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert first["Location"] == again["Location"] == f"/api/v1/leads/{first.json()['id']}/"
    assert Lead.objects.count() == 1 and IdempotencyKey.objects.count() == 1


@pytest.mark.django_db
def test_a_retry_that_todays_validation_would_refuse_still_replays_the_first_201(
    marketing_api, campaign, rep, monkeypatch
):
    """The replay comes before validation: it answers what the first request did, even
    when the same lead would be refused now (a campaign or rule changed meanwhile)."""
    import leads.api

    payload = lead_payload(campaign, external_id="")
    first = marketing_api.post("/api/v1/leads/", payload, format="json", HTTP_IDEMPOTENCY_KEY="k-e")

    def refuse_everything(items, **kwargs):
        return [], [{"campaign": ["No longer takes leads."]} for _item in items]

    monkeypatch.setattr(leads.api, "validate_leads_in", refuse_everything)
    fresh = marketing_api.post("/api/v1/leads/", payload, format="json", HTTP_IDEMPOTENCY_KEY="k-f")
    assert fresh.status_code == 400  # a new request is refused...
    again = marketing_api.post("/api/v1/leads/", payload, format="json", HTTP_IDEMPOTENCY_KEY="k-e")
    assert (first.status_code, again.status_code) == (201, 201)  # ...a retry of the first is not
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert IdempotencyKey.objects.count() == 1  # the refused one left no claim behind


@pytest.mark.django_db
def test_an_idempotency_key_reused_for_another_body_answers_422(marketing_api, campaign, rep):
    marketing_api.post(
        "/api/v1/leads/", lead_payload(campaign), format="json", HTTP_IDEMPOTENCY_KEY="k-2"
    )
    other = marketing_api.post(
        "/api/v1/leads/",
        lead_payload(campaign, external_id="form-2"),
        format="json",
        HTTP_IDEMPOTENCY_KEY="k-2",
    )
    assert_problem(other, 422, "idempotency_key_reused")
    assert Lead.objects.count() == 1


@pytest.mark.django_db
def test_on_duplicate_that_is_not_a_string_is_a_400_not_a_500(marketing_api, campaign):
    answer = marketing_api.post(
        "/api/v1/leads/", lead_payload(campaign, on_duplicate={}), format="json"
    )
    assert_problem(answer, 400, "invalid")
    assert error_fields(answer) == {"on_duplicate"} and not Lead.objects.exists()


@pytest.mark.django_db
def test_an_empty_idempotency_key_is_refused(marketing_api, campaign):
    answer = marketing_api.post(
        "/api/v1/leads/", lead_payload(campaign), format="json", HTTP_IDEMPOTENCY_KEY=""
    )
    assert_problem(answer, 400, "invalid")
    assert error_fields(answer) == {"Idempotency-Key"} and not Lead.objects.exists()


@pytest.mark.django_db
def test_a_bad_idempotency_key_is_a_400_naming_the_header(marketing_api, campaign):
    answer = marketing_api.post(
        "/api/v1/leads/", lead_payload(campaign), format="json", HTTP_IDEMPOTENCY_KEY="x" * 256
    )
    assert answer.status_code == 400 and error_fields(answer) == {"Idempotency-Key"}


@pytest.mark.django_db
def test_a_known_person_is_skipped_by_default_merged_or_created_on_request(
    marketing_api, campaign, rep
):
    first = marketing_api.post(
        "/api/v1/leads/", lead_payload(campaign, external_id="", phone=""), format="json"
    ).json()
    skipped = marketing_api.post(
        "/api/v1/leads/", lead_payload(campaign, external_id="", city="Köln"), format="json"
    )
    assert skipped.status_code == 200 and skipped.json()["intake"] == "duplicate"
    assert skipped.json()["id"] == first["id"] and skipped.json()["city"] == ""
    merged = marketing_api.post(
        "/api/v1/leads/?on_duplicate=merge",
        lead_payload(campaign, external_id="", city="Köln"),
        format="json",
    )
    assert merged.json()["intake"] == "merged" and merged.json()["city"] == "Köln"
    created = marketing_api.post(
        "/api/v1/leads/",
        lead_payload(campaign, external_id="", on_duplicate="create"),
        format="json",
    )
    assert created.status_code == 201 and created.json()["id"] != first["id"]
    assert Lead.objects.count() == 2


@pytest.mark.django_db
def test_bad_input_answers_400_with_a_message_per_field(marketing_api, campaign):
    answer = marketing_api.post(
        "/api/v1/leads/",
        {
            "campaign": campaign.pk,
            "contact_name": "  ",
            "email": "not-an-email",
            "requests_material": "maybe",
            "received_at": "2026-11-17T10:00:00",
            "country": "Deutschland",
            "surprise": 1,
        },
        format="json",
    )
    assert answer.status_code == 400
    errors = error_messages(answer)
    assert set(errors) == {
        "contact_name",
        "email",
        "requests_material",
        "received_at",
        "country",
        "surprise",
    }
    assert all(isinstance(message, str) and message for message in errors.values())
    assert "offset" in errors["received_at"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "body",
    [
        [],
        "text",
        {"campaign": 10**20, "contact_name": "A"},
        {"campaign": "x", "contact_name": "A"},
        {"campaign": 1, "contact_name": "A\x00B"},
        {"campaign": 1, "contact_name": "A", "received_at": "2026-13-45T99:00:00+01:00"},
        {"campaign": 1, "contact_name": "A", "requested_material": 10**30},
    ],
)
def test_nonsense_never_makes_a_500(marketing_api, campaign, body):
    answer = marketing_api.post("/api/v1/leads/", body, format="json")
    assert answer.status_code == 400, answer.content
    assert answer.json()["errors"]


@pytest.mark.django_db
def test_a_body_that_is_not_json_answers_400_and_other_media_415(marketing_api):
    broken = marketing_api.post("/api/v1/leads/", "{not json", content_type="application/json")
    assert broken.status_code == 400 and broken.json()["code"] == "parse_error"
    form = marketing_api.post("/api/v1/leads/", {"campaign": 1}, format="multipart")
    assert form.status_code == 415


@pytest.mark.django_db
def test_a_lead_from_the_future_is_refused(marketing_api, campaign):
    answer = marketing_api.post(
        "/api/v1/leads/", lead_payload(campaign, received_at="2099-01-01T00:00:00Z"), format="json"
    )
    assert answer.status_code == 400 and error_fields(answer) == {"received_at"}


@pytest.mark.django_db
def test_a_planned_campaign_takes_no_leads_yet(marketing_api, marketer):
    planned = CampaignFactory(status="planned", owner=marketer)
    if not hasattr(planned, "accepts_leads"):
        pytest.skip("campaign launch rules not in this tree")
    answer = marketing_api.post("/api/v1/leads/", lead_payload(planned), format="json")
    assert answer.status_code == 400 and error_fields(answer) == {"campaign"}


@pytest.mark.django_db
def test_material_must_be_one_the_campaign_offers(marketing_api, campaign):
    from ..factories import InfoMaterialFactory

    elsewhere = InfoMaterialFactory()
    answer = marketing_api.post(
        "/api/v1/leads/", lead_payload(campaign, requested_material=elsewhere.pk), format="json"
    )
    assert answer.status_code == 400 and error_fields(answer) == {"requested_material"}


# --- field-level rules and visibility ---------------------------------------------------


@pytest.mark.django_db
def test_a_rep_cannot_choose_owner_or_team(rep_api, campaign, rep, second_rep):
    answer = rep_api.post(
        "/api/v1/leads/",
        lead_payload(campaign, owner=second_rep.pk, team=campaign.team_id),
        format="json",
    )
    assert answer.status_code == 403
    assert error_fields(answer) == {"owner", "team"}
    assert not Lead.objects.exists()


@pytest.mark.django_db
def test_a_team_lead_may_assign_within_the_team_only(
    manager_api, campaign, rep, second_rep, other_team_rep
):
    mine = manager_api.post(
        "/api/v1/leads/", lead_payload(campaign, owner=second_rep.pk), format="json"
    )
    assert mine.status_code == 201 and mine.json()["owner"] == second_rep.pk
    theirs = manager_api.post(
        "/api/v1/leads/",
        lead_payload(campaign, external_id="f-9", owner=other_team_rep.pk),
        format="json",
    )
    assert theirs.status_code == 400 and error_fields(theirs) == {"owner"}


@pytest.mark.django_db
def test_reps_see_their_teams_leads_and_another_teams_lead_answers_404(
    campaign, rep, other_team_rep, rep_api, other_rep_api
):
    lead = receive_lead(campaign=campaign)
    assert rep_api.get(f"/api/v1/leads/{lead.pk}/").status_code == 200
    assert other_rep_api.get(f"/api/v1/leads/{lead.pk}/").status_code == 404
    assert other_rep_api.get(f"/api/v1/leads/{lead.pk}/timeline/").status_code == 404
    assert other_rep_api.get("/api/v1/leads/").json()["results"] == []
    assert [row["id"] for row in rep_api.get("/api/v1/leads/").json()["results"]] == [lead.pk]


@pytest.mark.django_db
def test_a_team_lead_reassigns_a_lead_and_a_rep_may_not(
    campaign, rep, second_rep, manager_api, rep_api
):
    lead = receive_lead(campaign=campaign)
    refused = rep_api.patch(f"/api/v1/leads/{lead.pk}/", {"owner": second_rep.pk}, format="json")
    assert refused.status_code == 403 and error_fields(refused) == {"owner"}
    done = manager_api.patch(f"/api/v1/leads/{lead.pk}/", {"owner": second_rep.pk}, format="json")
    assert done.status_code == 200 and done.json()["owner"] == second_rep.pk
    assert set(lead.followups.open().values_list("assignee", flat=True)) == {second_rep.pk}
    deadline = manager_api.patch(
        f"/api/v1/leads/{lead.pk}/", {"received_at": "2026-01-01T00:00:00Z"}, format="json"
    )
    assert deadline.status_code == 400


@pytest.mark.django_db
def test_the_timeline_lists_the_leads_history_oldest_first(campaign, rep, rep_api):
    lead = receive_lead(campaign=campaign)
    entries = rep_api.get(f"/api/v1/leads/{lead.pk}/timeline/").json()
    assert entries[0]["kind"] == "received"
    assert [e["at"] for e in entries] == sorted(e["at"] for e in entries)
    assert {"at", "kind", "label", "actor", "followup", "level", "data"} == set(entries[0])


@pytest.mark.django_db
def test_leads_filter_by_campaign_and_time_and_page_with_a_cursor(
    campaign, rep, marketing_api, marketer
):
    other = CampaignFactory(owner=marketer, team=campaign.team)
    for i in range(5):
        receive_lead(campaign=campaign, email=f"p{i}@example.com")
    receive_lead(campaign=other)
    page = marketing_api.get(
        f"/api/v1/leads/?campaign={campaign.pk}&page_size=2&ordering=-received_at"
    )
    assert page.status_code == 200 and len(page.json()["results"]) == 2
    seen = [row["id"] for row in page.json()["results"]]
    while page.json()["next"]:
        page = marketing_api.get(page.json()["next"])
        seen += [row["id"] for row in page.json()["results"]]
    assert sorted(seen) == sorted(
        Lead.objects.filter(campaign=campaign).values_list("pk", flat=True)
    )
    assert marketing_api.get("/api/v1/leads/?received_after=yesterday").status_code == 400
    assert marketing_api.get("/api/v1/leads/?ordering=password").status_code == 400
    assert marketing_api.get("/api/v1/leads/?cursor=garbage").status_code == 404


@pytest.mark.django_db
def test_an_existing_lead_of_a_team_you_cannot_see_is_not_shown(campaign, rep, other_team_rep):
    receive_lead(campaign=campaign, external_id="form-1")
    answer = api_client(other_team_rep).post(
        "/api/v1/leads/", lead_payload(campaign), format="json"
    )
    assert answer.status_code == 409 and "Erika" not in answer.content.decode()


@pytest.mark.django_db
def test_a_body_beyond_the_limit_answers_413(settings, marketing_api, campaign):
    settings.LEADBRIDGE_API_MAX_BODY = settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    answer = marketing_api.post(
        "/api/v1/leads/bulk/", {"leads": [lead_payload(campaign)] * 10}, format="json"
    )
    assert answer.status_code == 413 and answer.json()["code"] == "too_large"


@pytest.mark.django_db
def test_a_full_bulk_request_of_ten_thousand_leads_fits(settings, marketing_api, campaign):
    import json

    # One lead sent 10,000 times (a retried batch) with a long message: 3 MB, beyond
    # Django's default 2.5 MB body limit, and quick to take.
    body = {"leads": [lead_payload(campaign, message="x" * 300)] * 10_000}
    assert len(json.dumps(body)) > 2.5 * 1024 * 1024
    answer = marketing_api.post("/api/v1/leads/bulk/", body, format="json")
    assert answer.status_code == 200
    assert (answer.json()["created"], answer.json()["existing"]) == (1, 9_999)
