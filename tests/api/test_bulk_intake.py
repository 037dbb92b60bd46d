"""POST /api/v1/leads/bulk/: up to 10,000 leads, a result per item, the same rules as one by one
(both go through leads.intake; tests/leads/test_intake_pipeline.py holds the pipeline)."""

import pytest

from leads.models import Lead

from ..factories import CampaignFactory, receive_lead
from ..problems import error_fields
from .conftest import lead_payload


def item(campaign, i, **fields):
    return lead_payload(
        campaign, **{"external_id": f"b-{i}", "email": f"b{i}@example.com", "phone": "", **fields}
    )


@pytest.mark.django_db
def test_each_lead_gets_its_own_result_and_invalid_ones_do_not_stop_the_rest(
    marketing_api, campaign, rep
):
    leads = [
        item(campaign, 0),
        {"campaign": campaign.pk},
        item(campaign, 2, email="broken"),
        "not an object",
        item(campaign, 4),
    ]
    answer = marketing_api.post("/api/v1/leads/bulk/", {"leads": leads}, format="json")
    assert answer.status_code == 200
    body = answer.json()
    assert (body["created"], body["invalid"]) == (2, 3)
    results = body["results"]
    assert [r["status"] for r in results] == ["created", "invalid", "invalid", "invalid", "created"]
    assert set(results[1]["errors"]) == {"contact_name"} and set(results[2]["errors"]) == {"email"}
    assert results[3]["errors"] and results[0]["id"] == Lead.objects.get(external_id="b-0").pk


@pytest.mark.django_db
def test_repeats_within_and_across_requests_make_one_lead_each(marketing_api, campaign, rep):
    first = marketing_api.post(
        "/api/v1/leads/bulk/", {"leads": [item(campaign, 1), item(campaign, 1)]}, format="json"
    )
    assert [r["status"] for r in first.json()["results"]] == ["created", "existing"]
    again = marketing_api.post("/api/v1/leads/bulk/", {"leads": [item(campaign, 1)]}, format="json")
    assert again.json()["results"][0] == {
        "index": 0,
        "status": "existing",
        "id": first.json()["results"][0]["id"],
        "errors": {},
    }
    assert Lead.objects.count() == 1


@pytest.mark.django_db
def test_known_people_are_skipped_merged_or_created_as_asked(marketing_api, campaign, rep):
    known = receive_lead(campaign=campaign, email="known@example.com", city="")
    body = {
        "leads": [
            item(campaign, 1, email="known@example.com", city="Ulm"),
            item(campaign, 2, email="new@example.com"),
            item(campaign, 3, email="new@example.com", city="Bonn"),
        ]
    }
    skipped = marketing_api.post("/api/v1/leads/bulk/", body, format="json").json()
    assert [r["status"] for r in skipped["results"]] == ["duplicate", "created", "duplicate"]
    assert skipped["results"][0]["id"] == known.pk
    assert skipped["results"][2]["id"] == skipped["results"][1]["id"]
    body["leads"] = [item(campaign, 11, email="known@example.com", city="Ulm")]
    merged = marketing_api.post(
        "/api/v1/leads/bulk/?on_duplicate=merge", body, format="json"
    ).json()
    assert merged["results"][0]["status"] == "merged"
    known.refresh_from_db()
    assert known.city == "Ulm"
    body = {"leads": [item(campaign, 21, email="known@example.com")], "on_duplicate": "create"}
    created = marketing_api.post("/api/v1/leads/bulk/", body, format="json").json()
    assert created["results"][0]["status"] == "created"


@pytest.mark.django_db
def test_more_than_ten_thousand_leads_are_refused_whole(marketing_api, campaign):
    answer = marketing_api.post("/api/v1/leads/bulk/", {"leads": [{}] * 10_001}, format="json")
    assert answer.status_code == 400 and error_fields(answer) == {"leads"}
    assert (
        marketing_api.post("/api/v1/leads/bulk/", {"leads": []}, format="json").status_code == 400
    )


@pytest.mark.django_db
def test_a_rep_cannot_assign_in_bulk_either(rep_api, campaign, rep, second_rep):
    answer = rep_api.post(
        "/api/v1/leads/bulk/", {"leads": [item(campaign, 1, owner=second_rep.pk)]}, format="json"
    )
    assert answer.status_code == 403 and error_fields(answer) == {"leads.0.owner"}


@pytest.mark.django_db
def test_a_repeated_bulk_request_with_its_idempotency_key_answers_the_first_result(
    marketing_api, campaign, rep
):
    body = {"leads": [item(campaign, 1, external_id=""), item(campaign, 2, external_id="")]}
    first = marketing_api.post(
        "/api/v1/leads/bulk/", body, format="json", HTTP_IDEMPOTENCY_KEY="batch-7"
    )
    again = marketing_api.post(
        "/api/v1/leads/bulk/", body, format="json", HTTP_IDEMPOTENCY_KEY="batch-7"
    )
    assert again.status_code == 200 and again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first
    assert Lead.objects.count() == 2


@pytest.mark.django_db
def test_reps_take_turns_in_a_batch_as_in_single_intake(marketing_api, campaign, rep, second_rep):
    marketing_api.post(
        "/api/v1/leads/bulk/", {"leads": [item(campaign, i) for i in range(6)]}, format="json"
    )
    owners = list(Lead.objects.order_by("pk").values_list("owner_id", flat=True))
    assert sorted(owners) == sorted([rep.pk, second_rep.pk] * 3)
    assert owners[0] != owners[1]


@pytest.mark.django_db
def test_leads_without_a_campaign_team_follow_the_routing_rules(
    marketing_api, marketer, other_team, other_team_rep
):
    from accounts.models import RoutingRule

    RoutingRule.objects.create(team=other_team, postcode_prefix="2")
    untargeted = CampaignFactory(owner=marketer, team=None)
    answer = marketing_api.post(
        "/api/v1/leads/bulk/",
        {"leads": [item(untargeted, 1, postcode="20095"), item(untargeted, 2, postcode="80331")]},
        format="json",
    )
    assert answer.json()["created"] == 2
    hamburg, munich = Lead.objects.get(postcode="20095"), Lead.objects.get(postcode="80331")
    assert (hamburg.team, hamburg.owner) == (other_team, other_team_rep)
    assert (munich.team, munich.owner) == (None, None)
