"""The capacity check: expected responses per working day against the team's free capacity."""

from datetime import timedelta

from django.utils import timezone, translation

from accounts.models import Role
from campaigns.models import Channel
from campaigns.services import CapacityCheck, capacity_check, expected_per_day

from ..factories import CampaignFactory, UserFactory, receive_lead


def test_a_one_day_webinar_brings_every_call_back_on_day_one_and_the_warning_says_so(
    team, rep, second_rep, marketer, campaign, next_monday
):
    UserFactory(username="absent", role=Role.REP, team=team, is_absent=True)
    now = timezone.now()
    for i in range(10):  # ten call-backs already overdue: they come first on day 1
        receive_lead(
            campaign=campaign,
            company=f"Alt {i}",
            received_at=now - timedelta(days=20),
            now=now - timedelta(days=20),
        )
    campaign.status = "ended"  # its leads' work is still open; its new leads are over
    campaign.save()
    start = next_monday
    webinar = CampaignFactory(
        channel=Channel.WEBINAR,
        owner=marketer,
        team=team,
        status="planned",
        starts_on=start,
        ends_on=start,
        expected_responses=200,
    )

    check = capacity_check(campaign=webinar, team=team, today=timezone.localdate())

    assert (check.reps_present, check.reps_absent, check.capacity) == (2, 1, 50)
    [day] = check.days
    assert (day.number, day.day, day.expected, day.open_work, day.free) == (1, start, 200, 10, 40)
    assert check.overloaded
    assert check.warning() == (
        f"Expected 200 new leads on day 1 ({start.day} {start:%b %Y}), capacity 40 per day. "
        "Stagger the start: release it in 5 waves over 5 working days (about 40 a day), "
        "or plan more reps."
    )
    # Kept as numbers, rendered as text in the reader's language.
    assert "warning" not in check.as_dict()
    assert CapacityCheck.from_dict(check.as_dict()).warning() == check.warning()
    # A German reader of the stored check reads German, dates included.
    with translation.override("de"):
        assert (
            CapacityCheck.from_dict(check.as_dict())
            .warning()
            .startswith(
                f"Erwartet: 200 neue Leads an Tag 1 ({start:%d.%m.%Y}), Kapazität 40 pro Tag."
            )
        )


def test_a_website_campaign_spread_over_its_weeks_fits_and_gives_no_warning(
    team, rep, second_rep, marketer, next_monday
):
    start = next_monday
    campaign = CampaignFactory(
        channel=Channel.WEBSITE,
        owner=marketer,
        team=team,
        status="planned",
        starts_on=start,
        ends_on=start + timedelta(days=11),
        expected_responses=200,
    )
    check = capacity_check(campaign=campaign, team=team, today=timezone.localdate())
    assert len(check.days) == 10  # two working weeks
    assert sum(d.expected for d in check.days) == 200 and {d.expected for d in check.days} == {20}
    assert not check.overloaded and check.warning() == ""


def test_other_campaigns_of_the_team_take_their_share_of_the_days(
    team, rep, second_rep, marketer, next_monday
):
    start = next_monday
    CampaignFactory(
        channel=Channel.WEBSITE,
        owner=marketer,
        team=team,
        status="active",
        starts_on=start,
        ends_on=start + timedelta(days=4),
        expected_responses=100,
    )
    CampaignFactory(
        channel=Channel.WEBSITE,
        owner=marketer,
        team=team,
        status="planned",  # not signed: not counted
        starts_on=start,
        ends_on=start + timedelta(days=4),
        expected_responses=1000,
    )
    campaign = CampaignFactory(
        channel=Channel.TRADE_FAIR,
        owner=marketer,
        team=team,
        status="planned",
        starts_on=start,
        ends_on=start + timedelta(days=2),
        expected_responses=96,
    )
    check = capacity_check(campaign=campaign, team=team, today=timezone.localdate())
    assert [(d.expected, d.other_campaigns, d.free) for d in check.days] == [(32, 20, 30)] * 3
    assert check.overloaded
    assert check.warning().startswith(
        f"Expected 32 new leads on day 1 ({start.day} {start:%b %Y}), capacity 30 per day."
    )


def test_a_team_without_present_reps_has_no_capacity_at_all(team, marketer, next_monday):
    UserFactory(username="away", role=Role.REP, team=team, is_absent=True)
    campaign = CampaignFactory(
        channel=Channel.WEBINAR,
        owner=marketer,
        team=team,
        status="planned",
        starts_on=next_monday,
        ends_on=next_monday,
        expected_responses=5,
    )
    check = capacity_check(campaign=campaign, team=team, today=timezone.localdate())
    assert check.capacity == 0 and check.overloaded
    assert "The team has no free capacity that day" in check.warning()


def test_a_mailings_responses_halve_day_by_day():
    from campaigns.services import _shares

    counts = expected_per_day(total=200, shares=_shares(Channel.MAILING, 10))
    assert (
        counts[:3] == [100, 50, 25]
        and counts == sorted(counts, reverse=True)
        and sum(counts) == 200
    )


def test_expected_per_day_always_adds_up():
    for total in (0, 1, 7, 99, 1000):
        for n in (1, 3, 7):
            assert sum(expected_per_day(total=total, shares=[1 / n] * n)) == total


def test_a_six_week_webinars_leads_spread_over_its_window_not_all_on_day_one(
    team, rep, second_rep, marketer, next_monday
):
    """150 leads over six working weeks (30 working days) are 5 a day: the team of two
    reps (50 a day) copes; were they all due on day 1, it would not."""
    calendar = team.calendar()
    end = next_monday + timedelta(weeks=6) - timedelta(days=3)  # the sixth week's Friday
    webinar = CampaignFactory(
        channel=Channel.WEBINAR,
        owner=marketer,
        team=team,
        status="planned",
        starts_on=next_monday,
        ends_on=end,
        expected_responses=150,
    )
    check = capacity_check(campaign=webinar, team=team, today=timezone.localdate())
    working_days = [
        next_monday + timedelta(days=i)
        for i in range((end - next_monday).days + 1)
        if calendar.is_working_day(next_monday + timedelta(days=i))
    ]
    assert [d.day for d in check.days] == working_days
    assert check.expected_total == 150
    assert max(d.expected for d in check.days) - min(d.expected for d in check.days) <= 1
    assert check.days[0].expected <= 150 / len(working_days) + 1
    assert not check.overloaded


def test_a_mailing_front_loads_but_never_past_its_window(team, marketer, next_monday):
    mailing = CampaignFactory(
        channel=Channel.MAILING,
        owner=marketer,
        team=team,
        status="planned",
        starts_on=next_monday,
        ends_on=next_monday + timedelta(days=2),  # Monday to Wednesday
        expected_responses=100,
    )
    check = capacity_check(campaign=mailing, team=team, today=timezone.localdate())
    # Half, a quarter, and what would have come later lands on the window's last day.
    assert [d.expected for d in check.days] == [50, 25, 25]
