"""Business time across weekends, public holidays, office hours and DST."""

from datetime import datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadbridge.calendar import TZ, BusinessCalendar, BusinessDuration

BAVARIA = BusinessCalendar("DE-BY")
BERLIN = BusinessCalendar("DE-BE")


def at(*args) -> datetime:
    return datetime(*args, tzinfo=TZ)


def test_friday_before_whit_monday_at_1630_plus_one_business_day_is_tuesday_1630():
    # Whit Monday 2026 is 25 May; the lead came in on Friday 22 May at 16:30.
    assert BAVARIA.add(at(2026, 5, 22, 16, 30), "1d") == at(2026, 5, 26, 16, 30)


def test_friday_before_whit_monday_at_1630_plus_one_business_hour_is_tuesday_0830():
    assert BAVARIA.add(at(2026, 5, 22, 16, 30), "1h") == at(2026, 5, 26, 8, 30)


def test_corpus_christi_is_a_holiday_in_bavaria_but_not_in_berlin():
    thursday = at(2026, 6, 3, 10, 0)  # Corpus Christi is Thursday 4 June 2026
    assert BAVARIA.add(thursday, "1d") == at(2026, 6, 5, 10, 0)
    assert BERLIN.add(thursday, "1d") == at(2026, 6, 4, 10, 0)


def test_a_lead_received_on_saturday_counts_from_monday_opening():
    assert BAVARIA.add(at(2026, 11, 21, 11, 0), "1h") == at(2026, 11, 23, 9, 0)
    assert BAVARIA.add(at(2026, 11, 21, 11, 0), "1d") == at(2026, 11, 24, 8, 0)


def test_zero_means_at_once_even_at_night():
    night = at(2026, 11, 21, 23, 59)
    assert BAVARIA.add(night, "0") == night


def test_a_deadline_may_fall_exactly_on_closing_time():
    assert BAVARIA.add(at(2026, 11, 23, 16, 0), "1h") == at(2026, 11, 23, 17, 0)


def test_hours_carry_over_christmas_and_new_year():
    # 23 Dec 2026 is a Wednesday; 24 Dec is a working day by law, 25/26 are holidays.
    assert BAVARIA.add(at(2026, 12, 24, 16, 0), "2h") == at(2026, 12, 28, 9, 0)


def test_dst_spring_forward_keeps_office_clock_times():
    # Clocks go forward on Sunday 29 March 2026.
    result = BAVARIA.add(at(2026, 3, 27, 15, 0), "3h")
    assert result == at(2026, 3, 30, 9, 0)
    assert result.utcoffset() == timedelta(hours=2)


def test_dst_fall_back_keeps_office_clock_times():
    result = BAVARIA.add(at(2026, 10, 23, 12, 0), "1d")  # clocks go back on 25 Oct
    assert result == at(2026, 10, 26, 12, 0)
    assert result.utcoffset() == timedelta(hours=1)


def test_austria_and_switzerland_have_their_own_holidays():
    national_day_at = at(2026, 10, 26, 10, 0)  # Austrian national holiday (Monday)
    assert BusinessCalendar("AT").add(at(2026, 10, 23, 10, 0), "1d") == at(2026, 10, 27, 10, 0)
    assert BusinessCalendar("DE").add(at(2026, 10, 23, 10, 0), "1d") == national_day_at
    swiss_national_day = at(2025, 8, 1).date()  # a Friday
    assert not BusinessCalendar("CH").is_working_day(swiss_national_day)
    assert BusinessCalendar("DE").is_working_day(swiss_national_day)


def test_bad_durations_are_rejected_with_a_message():
    from django.core.exceptions import ValidationError

    for text in ["", "2x", "-1d", "3", "1.5h"]:
        with pytest.raises(ValidationError):
            BusinessDuration.parse(text)
    assert str(BusinessDuration.parse("0")) == "0"
    assert BusinessDuration.parse(" 4h ") == BusinessDuration(4, "h")


# --- properties -------------------------------------------------------------

moments = st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2028, 12, 31)).map(
    lambda naive: naive.replace(tzinfo=TZ)
)
calendars = st.sampled_from(
    [
        BAVARIA,
        BERLIN,
        BusinessCalendar("AT"),
        BusinessCalendar("CH"),
        BusinessCalendar("DE-NW", time(9), time(16, 30)),
    ]
)


def _in_office(calendar: BusinessCalendar, moment: datetime) -> bool:
    local = moment.astimezone(TZ)
    return (
        calendar.is_working_day(local.date())
        and calendar.opens_at <= local.time().replace(tzinfo=None) <= calendar.closes_at
    )


@settings(max_examples=300, deadline=None)
@given(calendar=calendars, start=moments, minutes=st.integers(min_value=1, max_value=60 * 60))
def test_adding_business_minutes_lands_in_office_hours_and_consumes_exactly_that_much(
    calendar, start, minutes
):
    end = calendar.add(start, BusinessDuration(minutes, "m"))
    assert end > start
    assert _in_office(calendar, end)
    assert calendar.business_minutes_between(start, end) == minutes


@settings(max_examples=300, deadline=None)
@given(calendar=calendars, start=moments, days=st.integers(min_value=1, max_value=30))
def test_adding_business_days_lands_on_a_working_day_at_the_snapped_clock_time(
    calendar, start, days
):
    end = calendar.add(start, BusinessDuration(days, "d"))
    snapped = calendar.snap(start)
    assert calendar.is_working_day(end.date())
    assert end.time().replace(tzinfo=None) == snapped.time().replace(tzinfo=None)
    working_days_between = sum(
        calendar.is_working_day(snapped.date() + timedelta(days=i))
        for i in range(1, (end.date() - snapped.date()).days + 1)
    )
    assert working_days_between == days


@settings(max_examples=200, deadline=None)
@given(calendar=calendars, start=moments, a=st.integers(1, 600), b=st.integers(1, 600))
def test_business_minutes_add_up(calendar, start, a, b):
    once = calendar.add(start, BusinessDuration(a + b, "m"))
    twice = calendar.add(calendar.add(start, BusinessDuration(a, "m")), BusinessDuration(b, "m"))
    assert once == twice


@settings(max_examples=200, deadline=None)
@given(calendar=calendars, start=moments, minutes=st.integers(1, 2000))
def test_subtracting_business_minutes_undoes_adding_them(calendar, start, minutes):
    end = calendar.add(start, BusinessDuration(minutes, "m"))
    back = calendar.subtract(end, BusinessDuration(minutes, "m"))
    assert calendar.business_minutes_between(back, end) == minutes
    assert (
        back <= calendar.snap(start)
        or calendar.business_minutes_between(calendar.snap(start), back) == 0
    )


def _minutes_day_by_day(calendar: BusinessCalendar, start: datetime, end: datetime) -> int:
    """The plain definition: the office hours of every day, cut to [start, end)."""
    start, end = start.astimezone(TZ), end.astimezone(TZ)
    total, day = timedelta(), start.date()
    while day <= end.date():
        if calendar.is_working_day(day):
            lo = max(start, datetime.combine(day, calendar.opens_at, tzinfo=TZ))
            hi = min(end, datetime.combine(day, calendar.closes_at, tzinfo=TZ))
            total += max(hi - lo, timedelta())
        day += timedelta(days=1)
    return int(total.total_seconds() // 60)


@settings(max_examples=300, deadline=None)
@given(calendar=calendars, start=moments, span=st.integers(0, 60 * 24 * 120))
def test_business_minutes_between_counts_whole_days_as_the_day_by_day_definition(
    calendar, start, span
):
    # The queue asks this for every late row, so whole days are counted, not walked.
    end = start + timedelta(minutes=span)
    assert calendar.business_minutes_between(start, end) == _minutes_day_by_day(
        calendar, start, end
    )
