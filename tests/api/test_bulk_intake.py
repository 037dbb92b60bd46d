"""POST /api/v1/leads/bulk/: up to 10,000 leads, a result per item, the same rules as one by one."""

import json
from datetime import datetime

import pytest

from accounts.models import User
from leadbridge.calendar import TZ
from leads.models import Lead, LeadEvent, Source
from leads.services import OnDuplicate, lead_receive

from ..factories import CampaignFactory, InfoMaterialFactory, receive_lead
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
def test_bulk_intake_gives_what_lead_receive_gives_one_by_one(
    marketer, campaign, rep, second_rep, manager
):
    """The set-based intake is held to the service every other path uses."""
    from .conftest import api_client

    campaign.materials.add(InfoMaterialFactory(kind="digital"))
    web = CampaignFactory(owner=marketer, team=campaign.team, channel="website")
    rows = [
        dict(item(campaign, 0), requests_material=True),
        dict(item(campaign, 1), requests_material=False, wants_call=False),
        dict(
            item(web, 2),
            requests_material=False,
            wants_call=True,
            received_at="2026-11-21T09:30:00+01:00",
        ),
        dict(item(web, 3), requests_material=True, country="AT", postcode="1010"),
    ]
    api_client(marketer).post("/api/v1/leads/bulk/", {"leads": rows}, format="json")
    bulk = {lead.external_id: lead for lead in Lead.objects.all()}
    Lead.objects.all().update(owner=None)  # compare deadlines, not who got which lead
    for row in rows:
        data = {k: v for k, v in row.items() if k != "campaign"}
        data["external_id"] = "one-" + data["external_id"]
        data["email"] = "one-" + data["email"]
        data["received_at"] = datetime.fromisoformat(data["received_at"]).astimezone(TZ)
        data["lawful_basis"] = "contract"  # the API's default
        lead_receive(
            data=data,
            source=Source.API,
            now=bulk["b-0"].created_at,
            actor=marketer,
            campaign=campaign if row["campaign"] == campaign.pk else web,
            on_duplicate=OnDuplicate.SKIP,
        )

    def payload(event):
        # Who got which lead differs (reps take turns); the rest of the entry may not.
        data = dict(event.data)
        if event.kind == "assigned":
            assert data.pop("to_name") == str(User.objects.get(pk=data.pop("to")))
        return json.dumps(data, sort_keys=True)

    def shape(lead):
        followups = sorted(
            (
                f.kind,
                f.rule,
                f.starts_at,
                f.warn_at,
                f.due_at,
                f.overdue_at,
                f.escalate_at,
                f.reassign_at,
                f.policy_id,
            )
            for f in lead.followups.all()
        )
        events = sorted(
            (e.kind, e.followup_id is not None, e.actor_id, payload(e)) for e in lead.events.all()
        )
        return (
            lead.channel,
            lead.team_id,
            lead.requested_material_id,
            lead.received_at,
            (lead.lawful_basis, lead.lawful_basis_source, lead.lawful_basis_at),
            lead.dedup_key.split(":")[0],
            followups,
            events,
        )

    for external_id, lead in bulk.items():
        one = Lead.objects.get(external_id="one-" + external_id)
        assert shape(lead) == shape(one), external_id
    assert LeadEvent.objects.filter(kind="assigned").count() == 8


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
