"""What a rep does with a lead: each action on the timeline, each closes/creates follow-ups by policy."""

from datetime import datetime, timedelta

import pytest
from django.core import mail

from accounts.models import Role
from campaigns.services import material_emails_send
from followups.models import FollowUp
from followups.services import FollowUpAlreadyDone, call_log, material_dispatch
from leadbridge.calendar import TZ
from leads.models import Lead, LeadEvent, Stage
from leads.services import LeadChanged, lead_decide, lead_move, lead_qualify, leads_reassign

from ..factories import InfoMaterialFactory, UserFactory, receive_lead

RECEIVED = datetime(2026, 11, 17, 10, 0, tzinfo=TZ)  # Tuesday


def at(day, hour, minute=0):
    return datetime(2026, 11, day, hour, minute, tzinfo=TZ)


@pytest.fixture
def callback(campaign, rep):
    lead = receive_lead(campaign=campaign, received_at=RECEIVED)
    return lead.followups.get(kind="callback")


@pytest.mark.django_db
def test_digital_material_is_emailed_to_the_lead_and_starts_the_call_back_clock(campaign, rep):
    campaign.materials.set(
        [InfoMaterialFactory(kind="digital", title="Whitepaper", url="https://example.com/wp.pdf")]
    )
    lead = receive_lead(
        campaign=campaign, received_at=RECEIVED, requests_material=True, email="kunde@example.com"
    )
    material = lead.followups.get(kind="material")
    callback = material_dispatch(followup=material, by=rep, at=at(17, 10, 5), postal=False)
    assert callback.due_at == at(19, 10, 5)
    assert mail.outbox == []  # the worker sends it, once
    assert material_emails_send(now=at(17, 10, 6)) == 1
    assert material_emails_send(now=at(17, 10, 7)) == 0
    assert [m.to for m in mail.outbox] == [["kunde@example.com"]]
    assert "https://example.com/wp.pdf" in mail.outbox[0].body


@pytest.mark.django_db
def test_a_double_click_on_dispatch_changes_nothing_the_second_time(campaign, rep):
    lead = receive_lead(campaign=campaign, received_at=RECEIVED, requests_material=True)
    material = lead.followups.get(kind="material")
    material_dispatch(followup=material, by=rep, at=at(17, 11), postal=True)
    with pytest.raises(FollowUpAlreadyDone):
        material_dispatch(followup=material, by=rep, at=at(17, 11), postal=True)
    assert lead.followups.filter(kind="callback").count() == 1
    assert lead.events.filter(kind="material_sent").count() == 1


@pytest.mark.django_db
def test_no_answer_books_the_next_attempt_after_the_retry_time(callback, rep):
    booked = call_log(followup=callback, by=rep, at=at(17, 15), outcome="no_answer")
    assert booked.kind == FollowUp.Kind.CALLBACK and booked.due_at == at(18, 10)  # 4 business hours
    assert callback.lead.events.filter(kind="call_attempt").count() == 1


@pytest.mark.django_db
def test_after_six_unanswered_calls_the_lead_is_unreachable_and_nothing_stays_open(callback, rep):
    current = callback
    for attempt in range(6):
        current = call_log(
            followup=current, by=rep, at=at(18, 9) + timedelta(hours=attempt), outcome="no_answer"
        )
    lead = Lead.objects.get(pk=callback.lead_id)
    assert current is None and lead.stage == Stage.UNREACHABLE
    assert not lead.followups.open().exists()
    assert lead.events.filter(kind="call_attempt").count() == 6


@pytest.mark.django_db
def test_call_later_books_a_call_back_at_the_agreed_time(callback, rep):
    booked = call_log(
        followup=callback, by=rep, at=at(17, 15), outcome="call_later", call_back_at=at(24, 14)
    )
    assert booked.due_at == at(24, 14)
    with pytest.raises(ValueError):
        call_log(
            followup=booked, by=rep, at=at(17, 16), outcome="call_later", call_back_at=at(17, 15)
        )
    booked.refresh_from_db()
    assert booked.completed_at is None  # the bad input changed nothing


@pytest.mark.django_db
def test_reached_then_qualified_creates_a_next_step_and_the_lead_becomes_a_prospect(callback, rep):
    call_log(followup=callback, by=rep, at=at(17, 15), outcome="reached")
    next_step = lead_qualify(
        lead=callback.lead, by=rep, at=at(17, 15, 5), next_step="visit", due_at=at(25, 10)
    )
    lead = Lead.objects.get(pk=callback.lead_id)
    assert lead.stage == Stage.PROSPECT
    assert (next_step.kind, next_step.next_step, next_step.due_at) == (
        "next_step",
        "visit",
        at(25, 10),
    )
    kinds = list(lead.events.filter(actor=rep).order_by("at", "id").values_list("kind", flat=True))
    assert kinds == ["call_attempt", "stage_changed", "qualified", "followup_created"]
    with pytest.raises(LeadChanged):
        lead_qualify(lead=lead, by=rep, at=at(17, 16), next_step="offer", due_at=at(26, 10))


@pytest.mark.django_db
def test_rejecting_needs_a_reason_and_sends_the_lead_back_to_marketing(callback, rep):
    lead = callback.lead
    with pytest.raises(ValueError):
        lead_decide(lead=lead, by=rep, at=at(17, 12), decision="rejected")
    with pytest.raises(ValueError):
        lead_decide(lead=lead, by=rep, at=at(17, 12), decision="rejected", reason="other", note=" ")
    lead = lead_decide(lead=lead, by=rep, at=at(17, 12), decision="rejected", reason="no_budget")
    assert (lead.stage, lead.decision, lead.decision_reason) == (
        Stage.REJECTED,
        "rejected",
        "no_budget",
    )
    assert not lead.followups.open().exists()
    assert lead in Lead.objects.filter(stage=Stage.REJECTED)  # marketing's nurturing list
    with pytest.raises(LeadChanged):
        lead_decide(lead=lead, by=rep, at=at(17, 13), decision="accepted")


@pytest.mark.django_db
def test_accepting_closes_the_decision_follow_up_only(callback, rep):
    lead = lead_decide(lead=callback.lead, by=rep, at=at(17, 12), decision="accepted")
    assert lead.followups.get(kind="decision").outcome == "accepted"
    assert lead.followups.get(kind="callback").completed_at is None
    assert lead.events.filter(kind=LeadEvent.Kind.ACCEPTED).count() == 1


@pytest.mark.django_db
def test_the_funnel_moves_forward_only_and_lost_needs_a_reason(callback, rep):
    lead = callback.lead
    lead_qualify(lead=lead, by=rep, at=at(17, 12), next_step="offer", due_at=at(20, 12))
    lead_move(lead=lead, by=rep, at=at(18, 12), stage=Stage.PRESALES)
    with pytest.raises(LeadChanged):
        lead_move(lead=lead, by=rep, at=at(18, 13), stage=Stage.AFTERSALES)
    with pytest.raises(ValueError):
        lead_move(lead=lead, by=rep, at=at(18, 13), stage=Stage.LOST)
    lead_move(lead=lead, by=rep, at=at(19, 12), stage=Stage.SALE)
    assert Lead.objects.get(pk=lead.pk).stage == Stage.SALE


@pytest.mark.django_db
def test_a_team_lead_reassigns_leads_with_their_open_follow_ups(campaign, rep, second_rep, manager):
    leads = [receive_lead(campaign=campaign, received_at=RECEIVED) for _ in range(2)]
    Lead.objects.filter(pk__in=[lead.pk for lead in leads]).update(owner=rep)
    FollowUp.objects.filter(lead__in=leads).update(assignee=rep)
    assert leads_reassign(leads=leads, to=second_rep, by=manager, at=at(18, 9)) == 2
    assert set(
        FollowUp.objects.open().filter(lead__in=leads).values_list("assignee", flat=True)
    ) == {second_rep.pk}
    event = LeadEvent.objects.get(lead=leads[0], kind="assigned", actor=manager)
    assert (event.at, event.data["to_name"]) == (at(18, 9), str(second_rep))


@pytest.mark.django_db
def test_routing_round_robins_within_the_team_and_skips_absent_and_full_reps(
    campaign, rep, second_rep
):
    UserFactory(username="away", role=Role.REP, team=rep.team, is_absent=True)
    second_rep.daily_capacity = 1
    second_rep.save()
    owners = [receive_lead(campaign=campaign, received_at=RECEIVED).owner for _ in range(4)]
    assert owners[:2] in ([rep, second_rep], [second_rep, rep])
    assert owners[2:] == [rep, rep]  # second_rep is full for today, "away" is absent


@pytest.mark.django_db
def test_when_every_rep_is_full_the_lead_still_gets_an_owner(campaign, rep):
    rep.daily_capacity = 1
    rep.save()
    owners = [receive_lead(campaign=campaign, received_at=RECEIVED).owner for _ in range(3)]
    assert owners == [rep, rep, rep]


@pytest.mark.django_db
def test_a_rep_counts_as_full_only_at_the_capacity(campaign, rep, second_rep):
    """PostgreSQL stops counting today's leads at the capacity: the count must still reach it."""
    rep.daily_capacity = 3
    rep.save()
    owners = [receive_lead(campaign=campaign, received_at=RECEIVED).owner for _ in range(8)]
    assert owners[:6].count(rep) == 3 and owners[:6].count(second_rep) == 3
    assert owners[6:] == [second_rep, second_rep]


@pytest.mark.django_db
def test_duplicates_are_found_by_email_then_phone_then_company_and_name(campaign, rep):
    from leads.intake import OnDuplicate, lead_receive

    first = receive_lead(
        campaign=campaign, received_at=RECEIVED, email="Anna@Example.com", phone=""
    )
    data = {
        "contact_name": "Anna",
        "email": "anna@example.com",
        "phone": "089 123456",
        "channel": "website",
        "lawful_basis": "contract",
    }
    skipped = lead_receive(data=data, source="import", now=RECEIVED, on_duplicate=OnDuplicate.SKIP)
    assert (skipped.lead, skipped.created, skipped.duplicate) == (first, False, True)
    merged = lead_receive(data=data, source="import", now=RECEIVED, on_duplicate=OnDuplicate.MERGE)
    first.refresh_from_db()
    assert merged.lead == first and first.phone == "089 123456"
    assert first.events.filter(kind="note", data__note="merged duplicate").count() == 1
    by_phone = lead_receive(
        data={
            "contact_name": "X",
            "phone": "+49 89 123456",
            "channel": "website",
            "lawful_basis": "contract",
        },
        source="import",
        now=RECEIVED,
        on_duplicate=OnDuplicate.SKIP,
    )
    assert by_phone.created  # email beats phone: first has an email, so its key is the email


@pytest.mark.django_db
def test_milestones_are_recorded_once_in_business_minutes(campaign, rep):
    lead = receive_lead(campaign=campaign, received_at=RECEIVED, requests_material=True)
    callback = material_dispatch(
        followup=lead.followups.get(kind="material"), by=rep, at=at(18, 10), postal=True
    )
    retry = call_log(followup=callback, by=rep, at=at(20, 9), outcome="no_answer")
    call_log(followup=retry, by=rep, at=at(23, 9), outcome="reached")
    lead.refresh_from_db()
    assert (lead.material_sent_at, lead.material_minutes, lead.material_on_time) == (
        at(18, 10),
        9 * 60,
        True,
    )
    assert (lead.first_contact_at, lead.first_contact_minutes) == (at(20, 9), 3 * 9 * 60 - 60)
    assert lead.reached_at == at(23, 9)


@pytest.mark.django_db
def test_notes_go_on_the_timeline_and_empty_ones_are_refused(client, campaign, rep):
    from django.urls import reverse

    lead = receive_lead(campaign=campaign, received_at=RECEIVED)
    client.force_login(rep)
    assert client.post(reverse("leads:note", args=[lead.pk]), {"text": "  "}).status_code == 302
    assert not lead.events.filter(kind="note").exists()
    client.post(reverse("leads:note", args=[lead.pk]), {"text": "Wants a demo in January"})
    page = client.get(reverse("leads:detail", args=[lead.pk])).content.decode()
    assert "Wants a demo in January" in page
