"""The dashboard's rollup: equal to the live computation, kept up to date by the beat task."""

import threading
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.urls import reverse

from accounts.models import Role
from followups.models import FollowUp
from followups.services import call_log, material_dispatch
from leads.models import Lead
from leads.services import lead_decide, leads_reassign
from reporting import metrics, rollup
from reporting.models import DashboardDirty, DashboardRollupState
from reporting.tasks import refresh_dashboard_rollup_task

from ..factories import UserFactory, receive_lead
from .conftest import NOW


@pytest.fixture
def users(rep, second_rep, other_team_rep, manager, marketer, team):
    return {
        "rep": rep,
        "second rep": second_rep,
        "other team's rep": other_team_rep,
        "team lead": manager,
        "marketing": marketer,
        "admin": UserFactory(username="ada", role=Role.ADMIN),
        "manager without team": UserFactory(username="max", role=Role.MANAGER, team=None),
    }


def slices(user, campaign_id: int) -> list[metrics.Slice]:
    """The user's default period, the one before it, everything, and filtered views."""
    scope = metrics.scope_conditions(user)
    today = NOW.date()
    return [
        metrics.Slice(today - timedelta(days=29), today, scope),
        metrics.Slice(today - timedelta(days=59), today - timedelta(days=30), scope),
        metrics.Slice(None, None, scope),
        metrics.Slice(today - timedelta(days=13), today, (*scope, ("campaign_id", campaign_id))),
        metrics.Slice(None, today, (*scope, ("channel", "newsletter"))),
    ]


def same_figures(left: metrics.Figures, right: metrics.Figures, where) -> None:
    assert left.counts == right.counts, where
    for field, stats in left.durations.items():
        for stat, value in stats.items():
            expected = right.durations[field][stat]
            if expected is None:
                assert value is None, (where, field, stat)
            else:  # the same arithmetic: equal but for float rounding, if at all
                assert value == pytest.approx(expected, rel=1e-12, abs=0), (where, field, stat)


def assert_rollup_equals_live(part: metrics.Slice, now) -> None:
    live, rolled = metrics.LiveFigures(now), rollup.RollupFigures(now)
    same_figures(rolled.handoff_figures(part), live.handoff_figures(part), part)
    for by in metrics.BREAKDOWNS:
        rolled_rows, live_rows = (
            dict(rolled.breakdown(part, by=by)),
            dict(live.breakdown(part, by=by)),
        )
        assert rolled_rows.keys() == live_rows.keys(), (part, by)
        for key, figures in rolled_rows.items():
            same_figures(figures, live_rows[key], (part, by, key))
    rolled_weeks, live_weeks = rolled.weekly(part), live.weekly(part)
    assert [week for week, _f in rolled_weeks] == [week for week, _f in live_weeks], part
    for (week, figures), (_w, expected) in zip(rolled_weeks, live_weeks, strict=True):
        same_figures(figures, expected, (part, week))
    assert rolled.ageing(part) == live.ageing(part), part
    assert rolled.funnel(part) == live.funnel(part), part


@pytest.mark.django_db
def test_scope_conditions_select_the_same_leads_as_the_dashboard_scope(history, users):  # noqa: F811
    for role, user in users.items():
        expected = set(metrics.scope(user=user).values_list("pk", flat=True))
        assert (
            set(
                metrics.Slice(conditions=metrics.scope_conditions(user))
                .leads()
                .values_list("pk", flat=True)
            )
            == expected
        ), role


@pytest.mark.django_db
def test_the_rollup_equals_the_live_computation_for_every_role_and_filter(history, users, campaign):  # noqa: F811
    rollup.dashboard_rollup_refresh(now=NOW)
    for _role, user in users.items():
        for part in slices(user, campaign.pk):
            assert_rollup_equals_live(part, NOW)


@pytest.mark.django_db
def test_a_refresh_recomputes_only_the_days_whose_leads_changed_and_then_equals_live(
    history,
    users,
    campaign,
    rep,
    second_rep,
    other_team_rep,
    manager,
    time_machine,  # noqa: F811
):
    time_machine.move_to(NOW, tick=False)
    assert "all days" in refresh_dashboard_rollup_task()
    assert not DashboardDirty.objects.exists()
    before = rollup.handoff_figures(metrics.Slice())

    later = NOW + timedelta(days=2, hours=3)  # meanwhile more follow-ups have become overdue
    time_machine.move_to(later, tick=False)
    leads = list(history.order_by("received_at"))
    receive_lead(
        campaign=campaign, received_at=later - timedelta(hours=1), now=later, requests_material=True
    )
    material = FollowUp.objects.filter(kind="material", completed_at=None, lead__in=leads).first()
    material_dispatch(followup=material, by=material.lead.owner, at=later, postal=False)
    callback = FollowUp.objects.filter(kind="callback", completed_at=None, lead__in=leads).last()
    call_log(followup=callback, by=callback.lead.owner, at=later, outcome="reached")
    undecided = next(lead for lead in leads if not lead.decision)
    lead_decide(lead=undecided, by=undecided.owner, at=later, decision="accepted")
    moved = next(lead for lead in leads if lead.owner_id == rep.pk)
    leads_reassign(leads=[moved], to=second_rep, by=manager, at=later)
    Lead.objects.filter(pk=leads[0].pk).delete()
    Lead.objects.filter(pk=leads[1].pk).update(received_at=leads[1].received_at + timedelta(days=3))
    Lead.objects.filter(pk=leads[2].pk).update(team=other_team_rep.team, owner=other_team_rep)

    # Until the next tick the dashboard shows the figures as of the last refresh.
    assert rollup.handoff_figures(metrics.Slice()).counts == before.counts
    assert metrics.LiveFigures(later).handoff_figures(metrics.Slice()).counts != before.counts

    report = refresh_dashboard_rollup_task()
    assert "all days" not in report and DashboardRollupState.objects.get().refreshed_at == later
    assert not DashboardDirty.objects.exists()
    for _role, user in users.items():
        for part in slices(user, campaign.pk):
            assert_rollup_equals_live(part, later)


@pytest.mark.django_db
def test_a_refresh_with_nothing_changed_only_moves_the_snapshot_forward(history, time_machine):  # noqa: F811
    rollup.dashboard_rollup_refresh(now=NOW)
    later = NOW + timedelta(days=1)
    assert "0 day(s) recomputed, 0 change(s)" in rollup.dashboard_rollup_refresh(now=later)
    assert_rollup_equals_live(metrics.Slice(), later)
    assert rollup.as_of() == later


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_refresh_while_another_one_runs_steps_aside(history):  # noqa: F811
    rollup.dashboard_rollup_refresh(now=NOW)
    result = []
    with transaction.atomic():
        DashboardRollupState.objects.select_for_update().get(
            pk=1
        )  # a refresh in progress holds this
        other = threading.Thread(
            target=lambda: (
                result.append(rollup.dashboard_rollup_refresh(now=NOW)),
                connection.close(),
            )
        )
        other.start()
        other.join()
    assert result == ["skipped: another refresh is running"]


def test_beat_refreshes_the_rollup_every_minute_and_a_late_tick_expires_before_the_next():
    entry = settings.CELERY_BEAT_SCHEDULE["refresh-dashboard-rollup"]
    assert entry["task"] == "reporting.tasks.refresh_dashboard_rollup_task"
    assert entry["schedule"] <= 60
    assert entry["options"]["expires"] < entry["schedule"]


@pytest.mark.django_db
def test_the_dashboard_reads_the_rollup_and_says_how_fresh_it_is(
    client, history, manager, time_machine
):  # noqa: F811
    time_machine.move_to(NOW, tick=False)
    rollup.dashboard_rollup_refresh(now=NOW)
    client.force_login(manager)
    time_machine.move_to(NOW + timedelta(minutes=2), tick=False)
    page = client.get(reverse("reporting:dashboard"))
    assert page.context["as_of"] == NOW and not page.context["late"]
    assert b'data-testid="as-of"' in page.content
    leads_tile = next(t for t in page.context["tiles"] if t["key"] == "leads")
    expected = metrics.scope(user=manager).filter(received_at__gte=NOW - timedelta(days=30)).count()
    assert 0 < leads_tile["value"] <= expected
    for by in metrics.BREAKDOWNS:  # every count of every table links to exactly its leads
        for _name, cells, _figures in page.context["tables"][by]:
            for value, href in cells:
                assert client.get(href).context["total"] == value, href
    time_machine.move_to(NOW + timedelta(minutes=6), tick=False)
    assert client.get(reverse("reporting:dashboard")).context["late"]


@pytest.mark.django_db
def test_make_run_fills_the_rollup_with_the_refresh_command(history):  # noqa: F811
    from django.core.management import call_command

    call_command("refresh_dashboard", "--now", NOW.isoformat())
    assert rollup.as_of() == NOW
    assert_rollup_equals_live(metrics.Slice(), NOW)


@pytest.mark.django_db
def test_the_change_capture_survives_every_migration_on_this_database():
    # SQLite rebuilds leads_lead for some schema changes and drops what raw SQL put on it
    # (followups/0011 restores it after leads/0005): whatever migration comes next, the
    # triggers and the received_at index must still be there.
    names = {
        "followups_dashboard_dirty_insert",
        "followups_dashboard_dirty_delete",
        "followups_dashboard_dirty_update",
    }
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = 'leads_lead'::regclass")
            triggers = {name for (name,) in cursor.fetchall()}
            cursor.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'leads_lead'")
        else:
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'leads_lead'"
            )
            triggers = {name for (name,) in cursor.fetchall()}
            cursor.execute(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'leads_lead'"
            )
        indexes = {name for (name,) in cursor.fetchall()}
    assert names <= triggers
    assert "followups_rollup_lead_received" in indexes
