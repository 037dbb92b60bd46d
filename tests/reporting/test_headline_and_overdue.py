"""The team lead's dashboard (issue #19): headline shares against raw rows, one
"overdue" with the team queue, charts that drill down, reassigning from a list."""

from datetime import datetime, time, timedelta

import pytest
from django.urls import reverse

from followups.models import FollowUp
from followups.services import material_dispatch
from leadbridge.calendar import TZ
from leads.models import Lead, LeadEvent
from reporting import metrics, rollup

from ..factories import receive_lead
from .conftest import NOW
from .test_dashboard import reference

HTMX = {"HTTP_HX_REQUEST": "true"}
PERIOD = {"start": (NOW - timedelta(days=13)).date(), "end": NOW.date()}
BEFORE = {"start": (NOW - timedelta(days=27)).date(), "end": (NOW - timedelta(days=14)).date()}


def received_in(leads, start, end):
    """Leads received on the local days start..end, bounds computed here, not by reporting."""
    low = datetime.combine(start, time.min, tzinfo=TZ)
    high = datetime.combine(end + timedelta(days=1), time.min, tzinfo=TZ)
    return leads.filter(received_at__gte=low, received_at__lt=high)


def raw_shares(leads) -> dict:
    """The three headline shares from follow-ups and timeline events (percent, 1 decimal)."""
    counts, _m, _c = reference(leads)
    never_called = sum(
        not LeadEvent.objects.filter(lead=lead, kind="call_attempt").exists() for lead in leads
    )

    def percent(numerator, denominator):
        return round(100 * numerator / denominator, 1) if denominator else None

    return {
        "material_waited_3w_share": percent(
            counts["material_waited_3w"], counts["material_known_3w"]
        ),
        "material_late_share": percent(
            counts["material_late"], counts["material_on_time"] + counts["material_late"]
        ),
        "never_called_share": percent(never_called, len(leads)),
    }


@pytest.fixture
def slow_material(history, campaign):
    """One request answered after 25 days: waited more than 3 weeks, though sent."""
    received = NOW - timedelta(days=26)
    lead = receive_lead(
        campaign=campaign, received_at=received, now=received, requests_material=True
    )
    material = lead.followups.get(kind="material")
    material_dispatch(
        followup=material, by=lead.owner, at=received + timedelta(days=25), postal=True
    )
    return lead


@pytest.mark.django_db
@pytest.mark.parametrize("source", ["rollup", "live"])
def test_headline_shares_equal_an_independent_computation_from_raw_rows(
    client, history, slow_material, manager, time_machine, source
):
    time_machine.move_to(NOW, tick=False)
    if source == "rollup":
        rollup.dashboard_rollup_refresh(now=NOW)
    client.force_login(manager)
    page = client.get(reverse("reporting:dashboard"), {k: v.isoformat() for k, v in PERIOD.items()})
    headline = {h["key"]: h for h in page.context["headline"]}
    team_leads = Lead.objects.filter(team=manager.team)
    now_expected = raw_shares(list(received_in(team_leads, **PERIOD)))
    before_expected = raw_shares(list(received_in(team_leads, **BEFORE)))
    for key in metrics.HEADLINE_SHARES:
        assert headline[key]["value"] == now_expected[key], key
        assert headline[key]["before"] == before_expected[key], key
    # The data tells a story in each share: neither 0 % nor 100 %.
    assert all(0 < value < 100 for value in before_expected.values()), before_expected
    assert slow_material in received_in(team_leads, **BEFORE)
    # The trend: each week's point is the share of that week's leads.
    series = page.context["chart"]["series"]
    for index, week in enumerate(page.context["chart"]["weeks"]):
        start = datetime.fromisoformat(week).date()
        expected = raw_shares(list(received_in(team_leads, start, start + timedelta(days=6))))
        for key in metrics.HEADLINE_SHARES:
            assert series[key]["values"][index] == expected[key], (week, key)


@pytest.mark.django_db
@pytest.mark.parametrize("source", ["rollup", "live"])
def test_overdue_now_counts_the_tasks_the_team_queue_counts_old_leads_too(
    client, history, campaign, manager, time_machine, source
):
    forgotten = NOW - timedelta(days=90)  # long before the dashboard's 30 days
    old = receive_lead(campaign=campaign, received_at=forgotten, now=forgotten)
    assert FollowUp.objects.overdue(NOW).filter(lead=old).count() >= 1
    time_machine.move_to(NOW, tick=False)
    if source == "rollup":
        rollup.dashboard_rollup_refresh(now=NOW)
    client.force_login(manager)
    page = client.get(reverse("reporting:dashboard"))
    tile = next(t for t in page.context["tiles"] if t["key"] == "overdue_now")
    raw = FollowUp.objects.filter(
        lead__team=manager.team, completed_at=None, overdue_at__lte=NOW
    ).count()
    queue = client.get(reverse("followups:queue"))
    # The queue shows leads per section and, under Overdue, the tasks past their deadline.
    queue_overdue = queue.context["overdue_tasks"]
    assert tile["value"] == raw == queue_overdue
    assert tile["delta"] is None  # "now" has no period before it
    # Its list holds the forgotten lead, oldest deadline first, and counts the same tasks.
    drill = client.get(reverse("reporting:dashboard_leads"), {"metric": "overdue_now"})
    assert drill.context["total"] == raw
    assert drill.context["leads"][0] == old
    assert b'data-testid="due"' in drill.content and b'data-testid="age"' in drill.content


@pytest.mark.django_db
def test_every_chart_bar_and_point_links_to_the_leads_it_counts(
    client, history, manager, time_machine
):
    time_machine.move_to(NOW, tick=False)
    rollup.dashboard_rollup_refresh(now=NOW)
    client.force_login(manager)
    chart = client.get(reverse("reporting:dashboard")).context["chart"]
    for (label, value), url in zip(chart["funnel"], chart["funnel_links"], strict=True):
        assert client.get(url).context["total"] == value, label
    assert any(value for _label, value in chart["funnel"])
    for index, url in enumerate(chart["ageing_links"]):
        listed = {lead.pk for lead in client.get(url).context["leads"]}
        condition = metrics.ageing_condition(index, NOW)
        expected = set(
            FollowUp.objects.open()
            .filter(condition, lead__team=manager.team)
            .values_list("lead_id", flat=True)
        )
        assert listed == expected, index
    never = chart["series"]["never_called_share"]
    for week, url in zip(chart["weeks"], never["links"], strict=True):
        start = datetime.fromisoformat(week).date()
        in_week = received_in(Lead.objects.filter(team=manager.team), start, start + timedelta(6))
        expected = sum(
            not LeadEvent.objects.filter(lead=lead, kind="call_attempt").exists()
            for lead in in_week
        )
        assert client.get(url).context["total"] == expected, week


@pytest.mark.django_db
def test_a_chart_link_with_a_bucket_or_stage_that_is_none_says_so(client, history, manager):
    client.force_login(manager)
    page = client.get(reverse("reporting:dashboard_leads"), {"ageing": "99", "stage": "boss"})
    assert page.status_code == 200
    assert len(page.context["problems"]) == 2
    assert page.context["total"] == page.context["lead_total"]  # the filters left out


@pytest.mark.django_db
def test_a_team_lead_reassigns_from_the_drill_down_list_over_htmx(
    client, history, manager, rep, second_rep, time_machine
):
    time_machine.move_to(NOW, tick=False)
    client.force_login(manager)
    url = f"{reverse('reporting:dashboard_leads')}?metric=overdue_now"
    page = client.get(url)
    assert b'hx-post="/leads/reassign/"' in page.content
    lead = next(lead for lead in page.context["leads"] if lead.owner_id == rep.pk)
    answer = client.post(
        reverse("leads:reassign"),
        {"leads": [lead.pk], "to": second_rep.pk, "next": url},
        follow=True,
        **HTMX,
    )
    lead.refresh_from_db()
    assert lead.owner == second_rep
    assert FollowUp.objects.open().filter(lead=lead).exclude(assignee=second_rep).count() == 0
    assert answer.request["PATH_INFO"] == reverse("reporting:dashboard_leads")
    notice = answer.content.decode().split('<ul class="messages">')[1].split("</ul>")[0]
    assert str(second_rep) in notice and 'class="success"' in notice
    assert lead in answer.context["leads"]


@pytest.mark.django_db
def test_a_rep_gets_no_reassign_controls_on_a_drill_down(client, history, rep):
    client.force_login(rep)
    page = client.get(reverse("reporting:dashboard_leads"), {"metric": "overdue_now"})
    assert page.status_code == 200 and page.context["team_reps"] == []
    assert b"drill-reassign" not in page.content
    assert {lead.owner_id for lead in page.context["leads"]} <= {rep.pk}
