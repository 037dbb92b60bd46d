"""Campaigns, materials, teams, users and the dashboard figures, per role."""

import pytest

from campaigns.models import Campaign

from ..factories import receive_lead
from ..problems import error_fields


@pytest.mark.django_db
def test_marketing_creates_and_edits_campaigns_and_reps_may_not(
    marketing_api, rep_api, marketer, printed_brochure, team
):
    body = {
        "name": "Newsletter Q1",
        "channel": "newsletter",
        "starts_on": "2027-01-05",
        "budget": "1200.00",
        "expected_responses": 40,
        "materials": [printed_brochure.pk],
        "team": team.pk,
    }
    made = marketing_api.post("/api/v1/campaigns/", body, format="json")
    assert made.status_code == 201
    assert made["Location"] == f"/api/v1/campaigns/{made.json()['id']}/"
    campaign = Campaign.objects.get(pk=made.json()["id"])
    assert campaign.owner == marketer and campaign.status == "planned"
    assert rep_api.post("/api/v1/campaigns/", body, format="json").status_code == 403
    changed = marketing_api.patch(
        f"/api/v1/campaigns/{campaign.pk}/", {"expected_responses": 60}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["expected_responses"] == 60
    status = marketing_api.patch(
        f"/api/v1/campaigns/{campaign.pk}/", {"status": "active"}, format="json"
    )
    assert status.status_code == 400 and error_fields(status) == {"status"}
    backwards = marketing_api.patch(
        f"/api/v1/campaigns/{campaign.pk}/", {"ends_on": "2026-01-01"}, format="json"
    )
    assert backwards.status_code == 400 and error_fields(backwards) == {"ends_on"}
    assert rep_api.get(f"/api/v1/campaigns/{campaign.pk}/").status_code == 200


@pytest.mark.django_db
def test_info_material_is_listed_and_filtered_by_campaign(
    marketing_api, campaign, printed_brochure
):
    rows = marketing_api.get(f"/api/v1/materials/?campaign={campaign.pk}").json()["results"]
    assert [r["id"] for r in rows] == [printed_brochure.pk]
    made = marketing_api.post(
        "/api/v1/materials/",
        {"title": "Whitepaper", "kind": "digital", "url": "https://example.com/wp.pdf"},
        format="json",
    )
    assert made.status_code == 201
    assert made["Location"] == f"/api/v1/materials/{made.json()['id']}/"


@pytest.mark.django_db
def test_reps_see_their_team_and_its_members_others_answer_404(
    rep_api, team, other_team, rep, second_rep, other_team_rep
):
    assert [t["id"] for t in rep_api.get("/api/v1/teams/").json()["results"]] == [team.pk]
    assert rep_api.get(f"/api/v1/teams/{other_team.pk}/").status_code == 404
    users = {u["id"] for u in rep_api.get("/api/v1/users/").json()["results"]}
    assert users == {rep.pk, second_rep.pk}
    assert rep_api.get(f"/api/v1/users/{other_team_rep.pk}/").status_code == 404
    assert "password" not in rep_api.get(f"/api/v1/users/{rep.pk}/").json()


@pytest.mark.django_db
def test_marketing_sees_all_teams(marketing_api, team, other_team):
    assert {t["id"] for t in marketing_api.get("/api/v1/teams/").json()["results"]} == {
        team.pk,
        other_team.pk,
    }


@pytest.mark.django_db
def test_the_dashboard_figures_cover_what_the_users_dashboard_covers(
    rep_api, manager_api, marketing_api, campaign, rep, second_rep
):
    receive_lead(campaign=campaign)
    receive_lead(campaign=campaign, email="two@example.com")
    mine = rep_api.get("/api/v1/dashboard/").json()
    team = manager_api.get("/api/v1/dashboard/?by=rep").json()
    assert team["figures"]["counts"]["leads"] == 2
    assert mine["figures"]["counts"]["leads"] == 1
    assert {row["key"] for row in team["breakdown"]} == {str(rep.pk), str(second_rep.pk)}
    assert "material_on_time_share" in team["figures"]["rates"] and team["definitions"]["leads"]
    assert (
        marketing_api.get("/api/v1/dashboard/?start=2026-12-01&end=2026-11-01").status_code == 400
    )
    assert marketing_api.get("/api/v1/dashboard/?by=weather").status_code == 400


@pytest.mark.django_db
def test_times_are_iso_8601_with_an_offset(rep_api, campaign, rep):
    lead = receive_lead(campaign=campaign)
    received = rep_api.get(f"/api/v1/leads/{lead.pk}/").json()["received_at"]
    assert received[-6] in "+-" and received[-3] == ":"


@pytest.mark.django_db
def test_unknown_api_urls_answer_json_404(rep_api):
    answer = rep_api.get("/api/v1/nothing/here")
    assert answer.status_code == 404 and answer.json()["code"] == "not_found"
    assert rep_api.get("/api/v1/leads/abc/").status_code == 404
