"""Every dashboard figure against an independent computation from the raw rows.

Each figure is checked twice: as the dashboard shows it (from the rollup, right
after a refresh) and computed live from the leads.
"""

import statistics
from datetime import datetime, timedelta

import pytest
from django.urls import reverse

from followups.models import FollowUp
from leadbridge.calendar import TZ, BusinessCalendar
from leads.models import Lead, LeadEvent, Stage
from reporting import metrics, rollup

from .conftest import NOW

BAVARIA = BusinessCalendar("DE-BY")


@pytest.fixture(params=["rollup", "live"])
def source(request, history):
    """Where the dashboard reads its figures: the rollup refreshed as of NOW, or the leads live."""
    assert Lead.objects.count() == history.count()  # the slice below (everything) is the history
    if request.param == "live":
        return metrics.LiveFigures(NOW)
    rollup.dashboard_rollup_refresh(now=NOW)
    return rollup.RollupFigures(NOW)


EVERYTHING = metrics.Slice()


def reference(leads):
    """The figures recomputed from follow-ups and timeline events, not from Lead's milestone columns."""
    result = {
        "leads": 0,
        "material_requested": 0,
        "material_on_time": 0,
        "material_late": 0,
        "contacted": 0,
        "reached": 0,
        "never_contacted": 0,
        "accepted": 0,
        "rejected": 0,
        "overdue_now": 0,
        "material_waited_3w": 0,
        "material_known_3w": 0,
    }
    material_minutes, contact_minutes = [], []
    for lead in leads:
        calendar = BusinessCalendar(lead.team.region)
        result["leads"] += 1
        material = FollowUp.objects.filter(lead=lead, kind="material").first()
        if lead.requests_material:
            result["material_requested"] += 1
            if material.completed_at and material.outcome in ("posted", "emailed"):
                on_time = material.completed_at <= material.overdue_at
                result["material_on_time" if on_time else "material_late"] += 1
                material_minutes.append(
                    calendar.business_minutes_between(lead.received_at, material.completed_at)
                )
            elif material.completed_at is None and material.overdue_at <= NOW:
                result["material_late"] += 1
            # 3 weeks in calendar time: sent after them, or still waiting past them.
            sent = material.outcome in ("posted", "emailed") and material.completed_at
            waited = (sent or NOW) - lead.received_at
            if sent or waited >= timedelta(days=21):
                result["material_known_3w"] += 1
                result["material_waited_3w"] += waited > timedelta(days=21) or not sent
        calls = LeadEvent.objects.filter(lead=lead, kind="call_attempt").order_by("at")
        if calls:
            result["contacted"] += 1
            contact_minutes.append(calendar.business_minutes_between(lead.received_at, calls[0].at))
        else:
            result["never_contacted"] += 1
        result["reached"] += any(c.data["outcome"] == "reached" for c in calls)
        decisions = LeadEvent.objects.filter(lead=lead, kind__in=["accepted", "rejected"])
        for event in decisions:
            result[event.kind] += 1
        # Tasks, not leads: docs/OVERDUE.md.
        result["overdue_now"] += FollowUp.objects.filter(
            lead=lead, completed_at=None, overdue_at__lte=NOW
        ).count()
    return result, material_minutes, contact_minutes


def p90(values):
    return statistics.quantiles(values, n=10, method="inclusive")[8]


@pytest.mark.django_db
def test_every_tile_equals_the_reference_computation(history, source):
    figures = source.handoff_figures(EVERYTHING)
    expected, material_minutes, contact_minutes = reference(history)
    for key, value in expected.items():
        assert figures.counts[key] == value, key
    assert figures.counts["decided"] == expected["accepted"] + expected["rejected"]
    assert figures.durations["material_minutes"]["median"] == pytest.approx(
        statistics.median(material_minutes)
    )
    assert figures.durations["material_minutes"]["p90"] == pytest.approx(p90(material_minutes))
    assert figures.durations["first_contact_minutes"]["median"] == pytest.approx(
        statistics.median(contact_minutes)
    )
    assert figures.durations["first_contact_minutes"]["p90"] == pytest.approx(p90(contact_minutes))
    assert 0 < expected["material_late"] < expected["material_requested"]  # the data has both


@pytest.mark.django_db
def test_every_breakdown_row_equals_the_reference_for_its_leads(history, source):
    for by, (field, _label) in metrics.BREAKDOWNS.items():
        rows = source.breakdown(EVERYTHING, by=by)
        assert sum(f.counts["leads"] for _k, f in rows) == history.count()
        for key, figures in rows:
            expected, material, contact = reference(history.filter(**{field: key}))
            assert {k: figures.counts[k] for k in expected} == expected, (by, key)
            for name, values in (
                ("material_minutes", material),
                ("first_contact_minutes", contact),
            ):
                durations = figures.durations[name]
                if not values:
                    assert durations == {"median": None, "p90": None}
                    continue
                assert durations["median"] == pytest.approx(statistics.median(values)), (
                    by,
                    key,
                    name,
                )
                if len(values) > 1:
                    assert durations["p90"] == pytest.approx(p90(values)), (by, key, name)


@pytest.mark.django_db
def test_the_weekly_trend_splits_the_same_leads_by_week_of_receipt(history, source):
    weeks = source.weekly(EVERYTHING)
    assert sum(f.counts["leads"] for _w, f in weeks) == history.count()
    for week, figures in weeks:
        start = datetime(week.year, week.month, week.day, tzinfo=TZ)
        in_week = history.filter(received_at__gte=start, received_at__lt=start + timedelta(days=7))
        expected, _m, _c = reference(in_week)
        assert {k: figures.counts[k] for k in expected} == expected, week


@pytest.mark.django_db
def test_ageing_counts_each_open_followup_once_by_time_past_its_overdue_point(history, source):
    expected = [0] * len(metrics.AGEING_BUCKETS)
    for followup in FollowUp.objects.filter(completed_at=None):
        late = NOW - followup.overdue_at
        if late < timedelta(0):
            expected[0] += 1
        else:
            days = late / timedelta(days=1)
            expected[
                next(
                    i
                    for i, (_l, low, high) in enumerate(metrics.AGEING_BUCKETS)
                    if low is not None
                    and (low == 0 or days >= low)
                    and (high is None or days < high)
                )
            ] += 1
    assert [n for _label, n in source.ageing(EVERYTHING)] == expected
    assert sum(expected) > expected[0] > 0  # some overdue, some not yet


@pytest.mark.django_db
def test_the_funnel_counts_leads_by_the_furthest_stage_reached(history, source):
    stages = [lead.stage for lead in history]
    funnel = dict(source.funnel(EVERYTHING))
    assert funnel[str(Stage.LEAD.label)] == sum(
        s not in {"rejected", "disqualified", "unreachable", "lost"} for s in stages
    )
    assert funnel[str(Stage.REJECTED.label)] == stages.count("rejected") > 0


@pytest.mark.django_db
def test_a_drill_down_lists_exactly_the_leads_behind_the_figure_and_exports_them(
    client, history, manager
):
    client.force_login(manager)
    start = (NOW - timedelta(days=60)).date().isoformat()
    dashboard = client.get(
        reverse("reporting:dashboard"), {"start": start, "end": NOW.date().isoformat()}
    )
    assert dashboard.status_code == 200
    page = client.get(
        reverse("reporting:dashboard_leads"),
        {"metric": "never_contacted", "start": start, "end": NOW.date().isoformat()},
    )
    never = [lead for lead in history if not lead.events.filter(kind="call_attempt").exists()]
    assert page.context["total"] == len(never)
    export = client.get(
        reverse("reporting:dashboard_leads"),
        {
            "metric": "never_contacted",
            "start": start,
            "end": NOW.date().isoformat(),
            "export": "csv",
        },
    )
    lines = b"".join(export.streaming_content).decode("utf-8-sig").strip().splitlines()
    assert len(lines) == len(never) + 1


@pytest.mark.django_db
def test_a_rep_sees_only_their_own_figures(client, history, rep):
    client.force_login(rep)
    response = client.get(
        reverse("reporting:dashboard"), {"start": "2026-09-01", "end": "2026-11-23"}
    )
    tile = next(t for t in response.context["tiles"] if t["key"] == "leads")
    assert (
        tile["value"]
        == history.filter(owner=rep, received_at__lt=datetime(2026, 11, 24, tzinfo=TZ)).count()
    )


def test_csv_cells_that_look_like_formulas_are_defused():
    from followups.exports import safe_cell

    assert safe_cell('=HYPERLINK("x")') == '\'=HYPERLINK("x")'
    assert safe_cell("+49 89 1234") == "'+49 89 1234"
    assert safe_cell("-12.5") == "-12.5"
    assert safe_cell("Müller GmbH") == "Müller GmbH"
