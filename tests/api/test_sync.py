"""Incremental sync: GET /api/v1/leads/?updated_after= with the cursor, while leads change."""

from datetime import UTC, datetime, timedelta

import pytest

from leads.models import Decision, Lead
from leads.services import lead_decide, leads_reassign

from ..factories import receive_lead
from ..problems import error_fields

START = datetime(2026, 11, 17, 9, 0, tzinfo=UTC)
EPOCH = "2000-01-01T00:00:00+00:00"


def _pass(api, updated_after, *, page_size, between=None):
    """One sync pass: every page until next is null; `between(n)` runs after page n."""
    seen, pages = [], 0
    answer = api.get("/api/v1/leads/", {"updated_after": updated_after, "page_size": page_size})
    while True:
        assert answer.status_code == 200, answer.json()
        body = answer.json()
        seen += [
            (lead["id"], lead["updated_at"], lead["owner"], lead["decision"])
            for lead in body["results"]
        ]
        assert body["has_more"] == (body["next"] is not None)
        pages += 1
        if between:
            between(pages)
        if body["next"] is None:
            return seen, body["sync_until"]
        answer = api.get(body["next"])


@pytest.mark.django_db
def test_a_client_syncs_every_changed_lead_exactly_once_a_pass_while_leads_change(
    marketing_api, campaign, rep, second_rep, manager, time_machine
):
    leads = []
    for index in range(12):  # two leads per second: ties on updated_at, broken by id
        time_machine.move_to(START + timedelta(seconds=index // 2), tick=False)
        leads.append(receive_lead(campaign=campaign))
    time_machine.move_to(START + timedelta(hours=1), tick=False)

    def change_mid_pass(page):
        if page != 1:
            return
        time_machine.move_to(START + timedelta(hours=1, seconds=5), tick=False)
        seen, unseen = leads[1], leads[9]  # the first page (5) showed leads 0-4
        # `at` (the business time) long past: the stamp is the clock's all the same.
        lead_decide(lead=seen, by=rep, at=START, decision=Decision.ACCEPTED)
        lead_decide(lead=unseen, by=rep, at=START, decision=Decision.ACCEPTED)
        other = rep if leads[7].owner_id == second_rep.pk else second_rep
        assert leads_reassign(leads=[leads[7]], to=other, by=manager, at=START) == 1

    first, until = _pass(marketing_api, EPOCH, page_size=5, between=change_mid_pass)
    ids = [row[0] for row in first]
    assert len(ids) == len(set(ids)), "a lead twice in one pass"
    # Leads changed before their turn moved past the pass's bound: the next pass has them.
    assert set(ids) == {lead.pk for lead in leads} - {leads[9].pk, leads[7].pk}
    assert datetime.fromisoformat(until) < START + timedelta(hours=1)

    time_machine.move_to(START + timedelta(hours=2), tick=False)
    second, _until = _pass(marketing_api, until, page_size=5)
    assert sorted(row[0] for row in second) == sorted([leads[1].pk, leads[9].pk, leads[7].pk])

    latest = {}
    for lead_id, updated_at, owner, decision in first + second:
        latest[lead_id] = (updated_at, owner, decision)
    assert set(latest) == {lead.pk for lead in leads}
    for lead in Lead.objects.all():
        assert latest[lead.pk][1:] == (lead.owner_id, lead.decision)
        assert datetime.fromisoformat(latest[lead.pk][0]) == lead.updated_at


@pytest.mark.django_db
def test_a_second_pass_with_nothing_changed_is_empty(marketing_api, campaign, time_machine):
    time_machine.move_to(START, tick=False)
    receive_lead(campaign=campaign)
    time_machine.move_to(START + timedelta(minutes=1), tick=False)
    first, until = _pass(marketing_api, EPOCH, page_size=50)
    assert len(first) == 1
    again, until_again = _pass(marketing_api, until, page_size=50)
    assert again == [] and until_again >= until


@pytest.mark.django_db
def test_a_change_within_the_settle_time_waits_for_the_next_pass(
    marketing_api, campaign, time_machine
):
    time_machine.move_to(START, tick=False)
    receive_lead(campaign=campaign)
    first, until = _pass(marketing_api, EPOCH, page_size=50)
    assert first == [] and datetime.fromisoformat(until) < START
    time_machine.move_to(START + timedelta(seconds=3), tick=False)
    later, _until = _pass(marketing_api, until, page_size=50)
    assert len(later) == 1


@pytest.mark.django_db
def test_a_sweep_reassignment_is_stamped_when_written(campaign, rep, second_rep, time_machine):
    from followups.services import sweep_overdue

    time_machine.move_to(START, tick=False)
    lead = receive_lead(campaign=campaign, requests_material=True)
    sweep_at = START + timedelta(days=30)
    time_machine.move_to(sweep_at + timedelta(minutes=3), tick=False)
    sweep_overdue(now=sweep_at)
    lead.refresh_from_db()
    assert lead.owner_id == second_rep.pk
    assert lead.updated_at == sweep_at + timedelta(minutes=3)


@pytest.mark.django_db
def test_updated_after_with_ordering_is_refused(marketing_api):
    answer = marketing_api.get("/api/v1/leads/", {"updated_after": EPOCH, "ordering": "id"})
    assert answer.status_code == 400 and "ordering" in error_fields(answer)


@pytest.mark.django_db
def test_a_forged_sync_cursor_is_refused(marketing_api):
    answer = marketing_api.get("/api/v1/leads/", {"updated_after": EPOCH, "cursor": "eyJ1Ijo"})
    assert answer.status_code == 404


@pytest.mark.django_db
def test_email_search_is_exact_and_ignores_case(marketing_api, campaign):
    wanted = receive_lead(campaign=campaign, email="Erika@Muster.example")
    receive_lead(campaign=campaign, email="erika@muster.example.org")
    answer = marketing_api.get("/api/v1/leads/", {"email": "ERIKA@muster.EXAMPLE"})
    assert [lead["id"] for lead in answer.json()["results"]] == [wanted.pk]


@pytest.mark.django_db
def test_lists_say_has_more_and_count_when_asked(marketing_api, campaign):
    for _ in range(3):
        receive_lead(campaign=campaign)
    page = marketing_api.get("/api/v1/leads/", {"page_size": 2}).json()
    assert page["has_more"] is True and "count" not in page
    page = marketing_api.get("/api/v1/leads/", {"page_size": 2, "with_count": "true"}).json()
    assert page["count"] == 3
    last = marketing_api.get(page["next"]).json()
    assert last["has_more"] is False and last["count"] == 3
    bad = marketing_api.get("/api/v1/leads/", {"with_count": "yes"})
    assert bad.status_code == 400
