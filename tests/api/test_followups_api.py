"""Follow-ups over the API: listed with their state, closed by the same services as the queue."""

from datetime import timedelta

import pytest
from django.utils import timezone

from followups.models import FollowUp
from leads.models import Lead, Stage

from ..factories import receive_lead
from ..problems import error_fields


@pytest.fixture
def lead(campaign, rep):
    return receive_lead(
        campaign=campaign, requests_material=True, received_at=timezone.now() - timedelta(days=10)
    )


@pytest.fixture
def fresh_lead(campaign, rep):
    return receive_lead(campaign=campaign, email="fresh@example.com")


@pytest.mark.django_db
def test_the_list_shows_state_and_escalation_and_filters_by_state_kind_lead_and_assignee(
    rep_api, lead, fresh_lead, rep
):
    rows = rep_api.get("/api/v1/followups/").json()["results"]
    assert {
        "id",
        "lead",
        "kind",
        "assignee",
        "due_at",
        "completed_at",
        "state",
        "escalation_level",
    } <= set(rows[0])
    overdue = rep_api.get("/api/v1/followups/?state=overdue").json()["results"]
    assert {r["lead"] for r in overdue} == {lead.pk} and all(
        r["state"] == "overdue" for r in overdue
    )
    open_now = rep_api.get("/api/v1/followups/?state=open").json()["results"]
    assert {r["lead"] for r in open_now} == {fresh_lead.pk}
    assert (
        rep_api.get(f"/api/v1/followups/?lead={lead.pk}&kind=material").json()["results"][0]["kind"]
        == "material"
    )
    mine = rep_api.get(f"/api/v1/followups/?assignee={rep.pk}").json()["results"]
    assert len(mine) == FollowUp.objects.filter(assignee=rep).count()
    assert rep_api.get("/api/v1/followups/?state=late").status_code == 400
    assert rep_api.get(f"/api/v1/followups/?lead={10**25}").status_code in {200, 400}
    assert rep_api.get("/api/v1/followups/?ordering=due_at").status_code == 200


@pytest.mark.django_db
def test_a_rep_records_the_material_sent_and_gets_the_call_back_booked(rep_api, lead, rep):
    material = lead.followups.get(kind="material")
    answer = rep_api.post(
        f"/api/v1/followups/{material.pk}/dispatch/", {"postal": True}, format="json"
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["followup"]["state"] == "done" and body["followup"]["completed_by"] == rep.pk
    assert body["next_followup"]["kind"] == "callback"
    again = rep_api.post(
        f"/api/v1/followups/{material.pk}/dispatch/", {"postal": True}, format="json"
    )
    assert again.status_code == 409 and again.json()["code"] == "conflict"


@pytest.mark.django_db
def test_the_wrong_action_for_the_kind_is_a_400(rep_api, lead):
    decision = lead.followups.get(kind="decision")
    answer = rep_api.post(f"/api/v1/followups/{decision.pk}/dispatch/", {}, format="json")
    assert answer.status_code == 400 and answer.json()["errors"]


@pytest.mark.django_db
def test_call_attempts_book_the_next_one_and_call_later_needs_a_future_time(rep_api, fresh_lead):
    callback = fresh_lead.followups.get(kind="callback")
    missing = rep_api.post(
        f"/api/v1/followups/{callback.pk}/call/", {"outcome": "call_later"}, format="json"
    )
    assert missing.status_code == 400 and error_fields(missing) == {"call_back_at"}
    answer = rep_api.post(
        f"/api/v1/followups/{callback.pk}/call/",
        {"outcome": "no_answer", "note": "Mailbox"},
        format="json",
    )
    assert answer.status_code == 200 and answer.json()["next_followup"]["kind"] == "callback"
    assert answer.json()["followup"]["outcome"] == "no_answer"


@pytest.mark.django_db
def test_qualify_accept_and_reject_go_through_the_lead_services(rep_api, lead, fresh_lead):
    callback = fresh_lead.followups.get(kind="callback")
    due = (timezone.now() + timedelta(days=7)).isoformat()
    qualified = rep_api.post(
        f"/api/v1/followups/{callback.pk}/qualify/",
        {"next_step": "visit", "due_at": due},
        format="json",
    )
    assert qualified.status_code == 200 and qualified.json()["next_followup"]["kind"] == "next_step"
    assert Lead.objects.get(pk=fresh_lead.pk).stage == Stage.PROSPECT
    decision = fresh_lead.followups.get(kind="decision")
    assert (
        rep_api.post(f"/api/v1/followups/{decision.pk}/accept/", {}, format="json").status_code
        == 200
    )
    assert (
        rep_api.post(f"/api/v1/followups/{decision.pk}/accept/", {}, format="json").status_code
        == 409
    )
    other = lead.followups.get(kind="decision")
    no_reason = rep_api.post(f"/api/v1/followups/{other.pk}/reject/", {}, format="json")
    assert no_reason.status_code == 400 and error_fields(no_reason) == {"reason"}
    why = rep_api.post(f"/api/v1/followups/{other.pk}/reject/", {"reason": "other"}, format="json")
    assert why.status_code == 400 and error_fields(why) == {"note"}
    rejected = rep_api.post(
        f"/api/v1/followups/{other.pk}/reject/", {"reason": "no_budget"}, format="json"
    )
    assert rejected.status_code == 200
    assert Lead.objects.get(pk=lead.pk).stage == Stage.REJECTED
    assert not lead.followups.open().exists()


@pytest.mark.django_db
def test_marketing_sees_follow_ups_but_logs_no_sales_actions(marketing_api, lead):
    material = lead.followups.get(kind="material")
    assert marketing_api.get(f"/api/v1/followups/{material.pk}/").status_code == 200
    answer = marketing_api.post(f"/api/v1/followups/{material.pk}/dispatch/", {}, format="json")
    assert answer.status_code == 403
    assert FollowUp.objects.get(pk=material.pk).completed_at is None


@pytest.mark.django_db
def test_another_teams_follow_up_answers_404_for_reading_and_acting(other_rep_api, lead):
    material = lead.followups.get(kind="material")
    assert other_rep_api.get(f"/api/v1/followups/{material.pk}/").status_code == 404
    assert (
        other_rep_api.post(
            f"/api/v1/followups/{material.pk}/dispatch/", {}, format="json"
        ).status_code
        == 404
    )
    assert other_rep_api.get("/api/v1/followups/").json()["results"] == []


@pytest.mark.django_db
def test_deadlines_cannot_be_written_directly(rep_api, manager_api, lead):
    material = lead.followups.get(kind="material")
    for client in (rep_api, manager_api):
        for method in (client.patch, client.put):
            assert (
                method(
                    f"/api/v1/followups/{material.pk}/",
                    {"due_at": "2030-01-01T00:00:00Z"},
                    format="json",
                ).status_code
                == 405
            )
    assert (
        rep_api.post(
            f"/api/v1/followups/{material.pk}/complete/",
            {"due_at": "2030-01-01T00:00:00Z"},
            format="json",
        ).status_code
        == 400
    )


@pytest.mark.django_db
def test_a_next_step_is_marked_done(rep_api, fresh_lead):
    callback = fresh_lead.followups.get(kind="callback")
    due = (timezone.now() + timedelta(days=3)).isoformat()
    step = rep_api.post(
        f"/api/v1/followups/{callback.pk}/qualify/",
        {"next_step": "offer", "due_at": due},
        format="json",
    ).json()["next_followup"]
    done = rep_api.post(
        f"/api/v1/followups/{step['id']}/complete/", {"note": "sent"}, format="json"
    )
    assert done.status_code == 200 and done.json()["followup"]["state"] == "done"
