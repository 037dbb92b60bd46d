"""The overdue sweep: warn, flag, escalate, reassign — each step exactly once."""

import threading
from copy import copy
from datetime import datetime, timedelta

import pytest
from django.core import mail
from django.db import IntegrityError, transaction

from accounts.models import Role
from followups import services
from followups.models import Escalation, FollowUp, Notification
from followups.notifications import notification_emails_send
from followups.services import followup_complete, material_dispatch, sweep_overdue
from leadbridge.calendar import TZ
from leads.models import LeadEvent

from ..concurrency import at_once
from ..factories import UserFactory, receive_lead

RECEIVED = datetime(2026, 11, 17, 10, 0, tzinfo=TZ)  # Tuesday


def at(day, hour, minute=0):
    return datetime(2026, 11, day, hour, minute, tzinfo=TZ)


@pytest.fixture
def printed_lead(campaign, rep):
    """A lead that asked for printed material; sales already accepted it, so only the material is due."""
    lead = receive_lead(campaign=campaign, received_at=RECEIVED, requests_material=True)
    decision = lead.followups.get(kind="decision")
    followup_complete(
        followup=decision, by=rep, at=RECEIVED + timedelta(hours=1), outcome="accepted"
    )
    return lead, lead.followups.get(kind="material")


@pytest.mark.django_db
def test_nothing_happens_before_the_warning_point(printed_lead):
    report = sweep_overdue(now=at(18, 12))
    assert (report.warned, report.overdue) == (0, 0)
    assert not Escalation.objects.exists()


@pytest.mark.django_db
def test_the_assignee_is_warned_once_before_the_follow_up_becomes_overdue(printed_lead, rep):
    _lead, material = printed_lead
    assert sweep_overdue(now=at(19, 8, 30)).warned == 1
    assert sweep_overdue(now=at(19, 9)).warned == 0
    material.refresh_from_db()
    assert material.warned_at == at(19, 8, 30) and material.escalation_level == 0
    assert Notification.objects.get(followup=material).recipient == rep


@pytest.mark.django_db
def test_run_twice_the_sweep_flags_nothing_new(printed_lead, rep, manager):
    lead, material = printed_lead
    first = sweep_overdue(now=at(19, 10))
    second = sweep_overdue(now=at(19, 10))
    assert first.overdue == 1 and first.warned == 0  # overdue on first sight: no stale warning
    assert (second.warned, second.overdue, second.escalated, second.reassigned) == (0, 0, 0, 0)
    material.refresh_from_db()
    assert material.escalation_level == 1 and material.flagged_at == at(19, 10)
    assert Escalation.objects.filter(followup=material, level=1).count() == 1
    assert (
        Notification.objects.filter(followup=material, recipient=rep, kind="overdue").count() == 1
    )


@pytest.mark.django_db
def test_a_step_taken_cannot_be_recorded_twice(printed_lead):
    _lead, material = printed_lead
    sweep_overdue(now=at(19, 10))
    with pytest.raises(IntegrityError), transaction.atomic():
        Escalation.objects.create(followup=material, level=1, at=at(19, 11))


@pytest.mark.django_db
def test_deleting_a_lead_deletes_its_escalations(printed_lead):
    # Escalation.followup has no database constraint: the ORM's CASCADE is what
    # keeps an escalation from outliving its follow-up.
    lead, material = printed_lead
    sweep_overdue(now=at(19, 10))
    assert Escalation.objects.filter(followup=material).exists()
    lead.delete()
    assert not Escalation.objects.exists()


@pytest.mark.django_db
def test_the_ladder_tells_the_assignee_then_the_team_lead_then_reassigns(
    printed_lead, rep, second_rep, manager
):
    lead, material = printed_lead
    sweep_overdue(now=at(19, 10))
    sweep_overdue(now=at(20, 10))
    material.refresh_from_db()
    assert material.escalation_level == 2
    assert Notification.objects.get(followup=material, kind="escalated").recipient == manager

    report = sweep_overdue(now=at(23, 10))
    assert report.reassigned == 1
    material.refresh_from_db()
    lead.refresh_from_db()
    assert material.escalation_level == 3
    assert material.assignee == second_rep == lead.owner
    assert lead.followups.get(kind="decision").assignee == rep  # completed work keeps its author
    kinds = dict(
        Notification.objects.filter(kind__in=["reassigned_to", "reassigned_from"]).values_list(
            "recipient", "kind"
        )
    )
    assert kinds == {second_rep.pk: "reassigned_to", rep.pk: "reassigned_from"}
    assert lead.events.filter(kind=LeadEvent.Kind.REASSIGNED).count() == 1


@pytest.mark.django_db
def test_reassignment_picks_the_least_loaded_present_rep(campaign, rep, second_rep, manager):
    busy = second_rep
    idle = UserFactory(username="ida", role=Role.REP, team=rep.team)
    UserFactory(username="absent", role=Role.REP, team=rep.team, is_absent=True)
    for _ in range(3):
        receive_lead(campaign=campaign, received_at=at(23, 9), owner=busy)
    FollowUp.objects.filter(assignee=idle).update(assignee=busy)
    lead = receive_lead(campaign=campaign, received_at=RECEIVED, requests_material=True)
    lead.followups.update(assignee=rep)
    sweep_overdue(now=at(23, 10))
    assert lead.followups.get(kind="material").assignee == idle


@pytest.mark.django_db
def test_completed_follow_ups_are_never_flagged(printed_lead, rep):
    lead, material = printed_lead
    callback = material_dispatch(followup=material, by=rep, at=at(18, 9), postal=True)
    followup_complete(followup=callback, by=rep, at=at(18, 11), outcome="reached")
    report = sweep_overdue(now=at(30, 10))
    assert (report.warned, report.overdue, report.escalated, report.reassigned) == (0, 0, 0, 0)


@pytest.mark.django_db
def test_field_study_case_three_weeks_without_material_reaches_level_two_and_tells_the_manager_once(
    campaign, rep, manager
):
    now = at(23, 10)
    lead = receive_lead(
        campaign=campaign, received_at=now - timedelta(weeks=3), requests_material=True
    )
    for _ in range(3):
        sweep_overdue(now=now)
    notification_emails_send(now=now)
    notification_emails_send(now=now)
    material = lead.followups.get(kind="material")
    assert material.escalation_level >= 2
    assert Escalation.objects.filter(followup=material, level=2).count() == 1
    # The material and the accept/reject follow-up were escalated in one batch: one message.
    told = Notification.objects.get(recipient=manager)
    assert (told.kind, told.count, sorted(told.followup_ids)) == (
        "escalated",
        2,
        sorted(lead.followups.values_list("pk", flat=True)),
    )
    manager_mails = [m for m in mail.outbox if m.to == [manager.email]]
    assert len(manager_mails) == 1
    assert manager_mails[0].body.count(f"/leads/{lead.pk}/") == 2


@pytest.mark.django_db
def test_a_batch_tells_each_assignee_once_naming_the_follow_up_only_when_it_is_one(
    campaign, rep, second_rep, manager
):
    """On PostgreSQL the claim statement writes these rows, elsewhere _notify: same result."""
    many = [
        receive_lead(campaign=campaign, received_at=RECEIVED, requests_material=True)
        for _ in range(3)
    ]
    single = receive_lead(campaign=campaign, received_at=RECEIVED, requests_material=True)
    nobody = receive_lead(campaign=campaign, received_at=RECEIVED, requests_material=True)
    for lead in many:
        lead.followups.update(assignee=rep)
    single.followups.filter(kind="material").update(assignee=second_rep)
    single.followups.exclude(kind="material").delete()
    nobody.followups.filter(kind="material").update(assignee=None)
    nobody.followups.exclude(kind="material").delete()

    assert sweep_overdue(now=at(19, 10)).overdue == 8
    overdue = Notification.objects.filter(kind="overdue")
    rows = {n.recipient_id: n for n in overdue}
    assert set(rows) == {rep.pk, second_rep.pk, manager.pk} and overdue.count() == 3
    mine = FollowUp.objects.filter(lead__in=many)
    assert (rows[rep.pk].count, rows[rep.pk].followup_id, rows[rep.pk].lead_id) == (6, None, None)
    assert sorted(rows[rep.pk].followup_ids) == sorted(mine.values_list("pk", flat=True))
    material = single.followups.get()
    assert (
        rows[second_rep.pk].count,
        rows[second_rep.pk].followup_id,
        rows[second_rep.pk].lead_id,
    ) == (1, material.pk, single.pk)
    assert rows[second_rep.pk].followup_ids == [material.pk]
    assert (rows[manager.pk].count, rows[manager.pk].followup_id) == (1, nobody.followups.get().pk)
    assert {n.email_state for n in overdue} == {"pending"} and {n.read_at for n in overdue} == {
        None
    }
    assert {n.created_at for n in overdue} == {at(19, 10)}


@pytest.mark.django_db
def test_a_team_lead_who_is_also_an_assignee_is_told_once_per_batch(campaign, rep, manager):
    """The team lead hears of the unassigned follow-up and of their own in one notification."""
    theirs = receive_lead(campaign=campaign, received_at=RECEIVED, requests_material=True)
    nobody = receive_lead(campaign=campaign, received_at=RECEIVED, requests_material=True)
    theirs.followups.filter(kind="material").update(assignee=manager)
    nobody.followups.filter(kind="material").update(assignee=None)
    for lead in (theirs, nobody):
        lead.followups.exclude(kind="material").delete()
    assert sweep_overdue(now=at(19, 10)).overdue == 2
    told = Notification.objects.get(kind="overdue", recipient=manager)
    assert told.count == 2
    assert sorted(told.followup_ids) == sorted(
        FollowUp.objects.filter(lead__in=[theirs, nobody]).values_list("pk", flat=True)
    )


@pytest.mark.django_db
def test_a_notification_lists_at_most_a_hundred_follow_ups_but_counts_them_all(
    campaign, rep, manager
):
    leads = [
        receive_lead(campaign=campaign, received_at=RECEIVED, requests_material=True)
        for _ in range(60)
    ]
    FollowUp.objects.filter(lead__in=leads).update(assignee=rep)
    sweep_overdue(now=at(19, 10), batch_size=500)
    told = Notification.objects.get(kind="overdue", recipient=rep)
    assert told.count == 120 and len(told.followup_ids) == 100
    assert set(told.followup_ids) <= set(
        FollowUp.objects.filter(lead__in=leads).values_list("pk", flat=True)
    )


@pytest.mark.django_db
def test_notification_emails_are_claimed_so_a_second_sender_sends_nothing(printed_lead, rep):
    sweep_overdue(now=at(19, 10))
    assert notification_emails_send(now=at(19, 10)) == 1
    assert notification_emails_send(now=at(19, 11)) == 0
    assert len(mail.outbox) == 1
    assert Notification.objects.get().email_state == "sent"


@pytest.mark.django_db
def test_sweep_command_prints_what_it_did(printed_lead, capsys):
    from django.core.management import call_command

    call_command("sweep_overdue", "--now", "2026-11-19T10:00:00+01:00")
    out = capsys.readouterr().out
    assert "flagged overdue 1" in out and "emails sent: 1" in out


def test_sweep_command_rejects_a_bad_time_with_a_message():
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="not ISO 8601"):
        call_command("sweep_overdue", "--now", "yesterday")


# --- concurrency: real PostgreSQL row locks ------------------------------------------


def _make_overdue(campaign, count):
    return [
        receive_lead(campaign=campaign, received_at=RECEIVED, requests_material=True)
        for _ in range(count)
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_at_once_on_two_connections_escalate_each_follow_up_once(campaign, rep, manager):
    _make_overdue(campaign, 30)
    now = at(30, 10)
    reports = at_once(*[lambda: sweep_overdue(now=now, batch_size=7)] * 2)
    open_followups = FollowUp.objects.count()
    assert sum(r.overdue for r in reports) == open_followups == 60
    assert Escalation.objects.filter(level=1).count() == open_followups
    assert Escalation.objects.filter(level=2).count() == open_followups
    told = Notification.objects.filter(kind="escalated", recipient=manager)
    assert sum(told.values_list("count", flat=True)) == open_followups


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_competing_sweep_injected_mid_batch_skips_the_claimed_rows(
    campaign, rep, manager, monkeypatch
):
    _make_overdue(campaign, 5)
    now = at(19, 10)
    competitor = {}
    original = services._notify

    def notify_with_competitor(**kwargs):
        # Rows are claimed (locked) but not committed: run a whole second sweep now, on its
        # own connection, exactly at this point.
        if not competitor:

            def run():
                from django.db import connections

                competitor["report"] = sweep_overdue(now=now)
                connections.close_all()

            thread = threading.Thread(target=run)
            thread.start()
            thread.join()
        return original(**kwargs)

    monkeypatch.setattr(services, "_notify", notify_with_competitor)
    mine = sweep_overdue(now=now)
    theirs = competitor["report"]
    assert mine.overdue + theirs.overdue == 10
    assert Escalation.objects.filter(level=1).count() == 10
    assert FollowUp.objects.filter(escalation_level__gte=1).count() == 10


@pytest.mark.django_db
def test_a_lead_with_two_follow_ups_due_for_reassignment_moves_once(
    campaign, rep, second_rep, manager
):
    from accounts.models import Role

    UserFactory(username="third", role=Role.REP, team=rep.team)
    lead = receive_lead(campaign=campaign, received_at=RECEIVED, requests_material=True)
    lead.followups.update(assignee=rep)
    sweep_overdue(now=at(30, 10))
    owners = set(lead.followups.values_list("assignee", flat=True))
    assert len(owners) == 1 and owners != {rep.pk}
    assert lead.events.filter(kind=LeadEvent.Kind.REASSIGNED).count() == 1
    assert Notification.objects.filter(recipient=rep, kind="reassigned_from").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_backlog_is_worked_on_several_connections_and_each_step_still_happens_once(
    campaign, rep, manager, monkeypatch
):
    _make_overdue(campaign, 40)  # 80 follow-ups, due for level 1 and level 2 in this pass
    # batch_size 8: a first batch of 2 finds the backlog, then batches of 8 on two connections.
    now = at(30, 10)
    original = services._sweep_batch
    calls: dict[int, int] = {}
    together = threading.Barrier(2, timeout=30)
    main = threading.get_ident()

    def batch_meeting_the_helper(**kwargs):
        # The main thread's second batch (after the fan-out) and the helper's first
        # run side by side: the backlog is provably shared between two connections.
        if kwargs["level"] == Escalation.Level.OVERDUE:
            me = threading.get_ident()
            calls[me] = calls.get(me, 0) + 1
            if calls[me] == (2 if me == main else 1):
                together.wait()
        return original(**kwargs)

    monkeypatch.setattr(services, "_sweep_batch", batch_meeting_the_helper)
    report = sweep_overdue(now=now, batch_size=8, workers=2)
    assert len(calls) == 2
    assert (report.overdue, report.escalated) == (80, 80)
    assert Escalation.objects.filter(level=1).count() == 80
    assert Escalation.objects.filter(level=2).count() == 80
    assert FollowUp.objects.filter(escalation_level__gte=2).count() == 80
    told = Notification.objects.filter(kind="escalated", recipient=manager)
    assert sum(told.values_list("count", flat=True)) == 80
    assert sweep_overdue(now=now, batch_size=8, workers=2).overdue == 0


@pytest.mark.django_db
def test_a_lead_whose_follow_ups_fall_into_different_batches_is_reassigned_once(
    campaign, rep, second_rep, manager, settings
):
    # One follow-up per batch: the lead's material and decision follow-ups are
    # claimed by two batches of one pass; the second must not move the lead again.
    settings.LEADBRIDGE_SWEEP_BATCH_SIZE = 1
    UserFactory(username="third", role=Role.REP, team=rep.team)
    leads = [
        receive_lead(campaign=campaign, received_at=RECEIVED, requests_material=True)
        for _ in range(3)
    ]
    for lead in leads:
        lead.followups.update(assignee=rep)
    report = sweep_overdue(now=at(30, 10), workers=1)
    assert report.reassigned == 6
    for lead in leads:
        assert lead.events.filter(kind=LeadEvent.Kind.REASSIGNED).count() == 1
        assert len(set(lead.followups.values_list("assignee", flat=True))) == 1
    _assert_nobody_told_both(leads)


def _assert_nobody_told_both(leads):
    """No rep is told "assigned to you" and "taken from you" for one lead."""
    told: dict[tuple[int, str], set[int]] = {}
    for note in Notification.objects.filter(kind__in=["reassigned_to", "reassigned_from"]):
        for followup_id in note.followup_ids:
            told.setdefault((followup_id, note.kind), set()).add(note.recipient_id)
    for lead in leads:
        for followup_id in lead.followups.values_list("pk", flat=True):
            given = told.get((followup_id, "reassigned_to"), set())
            taken = told.get((followup_id, "reassigned_from"), set())
            assert len(given) == 1 and not given & taken


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_sweeps_reassigning_leads_across_batch_boundaries_neither_deadlock_nor_double(
    campaign, rep, second_rep, manager
):
    # 40 leads of two follow-ups each, batches of 3: a lead's follow-ups straddle
    # batches, and both sweeps reach the same leads at once.
    for name in ("third", "fourth"):
        UserFactory(username=name, role=Role.REP, team=rep.team)
    leads = _make_overdue(campaign, 40)
    FollowUp.objects.update(assignee=rep)
    now = at(30, 10)
    at_once(*[lambda: sweep_overdue(now=now, batch_size=3, workers=1)] * 2)
    # What one pass left (a lead locked by the other sweep waits for the next tick):
    sweep_overdue(now=now, batch_size=3, workers=1)
    assert Escalation.objects.filter(level=3).count() == FollowUp.objects.count() == 80
    for lead in leads:
        assert lead.events.filter(kind=LeadEvent.Kind.REASSIGNED).count() == 1
    _assert_nobody_told_both(leads)


@pytest.mark.postgres
@pytest.mark.django_db
def test_the_claim_finds_its_locked_rows_by_address_whatever_the_batch_size(campaign, rep):
    """The claim statement (services._claim_sql) updates the rows it locked through their
    ctid. Joined to the locked rows, a batch of some thousand made PostgreSQL hash the
    whole follow-up table instead (a Seq Scan over 600k rows for each 10,000-row batch in
    bench/sweep_bench.py); as an array of ctids it stays a Tid Scan for any batch size."""
    from django.db import connection, transaction
    from django.test.utils import CaptureQueriesContext

    (lead,) = _make_overdue(campaign, 1)
    template = lead.followups.get(kind="material")
    template.pk = None
    FollowUp.objects.bulk_create([copy(template) for _ in range(4000)])  # ~100 pages, all due
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE followups_followup")
    with transaction.atomic(), CaptureQueriesContext(connection) as queries:
        services._claim_sql(level=1, column="overdue_at", now=at(30, 10), size=10_000)
        transaction.set_rollback(True)
    (statement,) = [q["sql"] for q in queries.captured_queries if "claimed" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {statement}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Tid Scan on followups_followup f" in plan, plan
    assert "Seq Scan on followups_followup f" not in plan, plan
