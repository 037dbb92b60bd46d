"""Business time across weekends, public holidays, office hours and DST."""

from datetime import datetime, time, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from followups.calendar import TZ, BusinessCalendar, BusinessDuration

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


# --- DeadlineShifts: a bulk intake's shortcut, held to the plain computation ----------

durations = st.sampled_from(
    ["0", "1m", "30m", "59m", "1h", "2h", "4h", "8h", "9h", "1d", "2d", "3d"]
)
shift_calendars = st.sampled_from(
    [
        BusinessCalendar("DE-BY"),
        BusinessCalendar("DE-BE", time(9), time(12, 30)),
        BusinessCalendar("AT", time(7, 15), time(19)),
        BusinessCalendar("CH", time(0), time(23)),  # office hours over the DST switch: no shortcut
    ]
)
# Days with weekends, holidays (Whit Monday, Corpus Christi, Christmas) and both DST switches.
shift_days = st.sampled_from(
    [
        datetime(2026, 3, 27),
        datetime(2026, 3, 30),
        datetime(2026, 5, 22),
        datetime(2026, 6, 3),
        datetime(2026, 10, 23),
        datetime(2026, 10, 26),
        datetime(2026, 11, 20),
        datetime(2026, 12, 23),
        datetime(2026, 12, 24),
        datetime(2026, 12, 31),
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    calendar=shift_calendars,
    day=shift_days,
    rule=st.sampled_from(["material_printed", "material_digital", "web_call", "decision"]),
    due=durations,
    overdue=durations,
    warn=durations,
    escalate=durations,
    reassign=st.one_of(st.just(""), durations),
    # Minutes of the day (some on the boundaries), seconds and microseconds; in order or not.
    starts=st.lists(
        st.tuples(
            st.one_of(
                st.integers(0, 24 * 60 - 1),
                st.sampled_from([7 * 60 + 15, 8 * 60, 9 * 60, 12 * 60 + 30, 15 * 60, 16 * 60]),
            ),
            st.sampled_from([0, 0, 1, 59]),
            st.sampled_from([0, 0, 1, 999_999]),
        ),
        min_size=1,
        max_size=40,
    ),
    ordered=st.booleans(),
    utc=st.booleans(),
)
def test_deadline_shifts_give_the_deadlines_of_the_plain_computation(
    calendar, day, rule, due, overdue, warn, escalate, reassign, starts, ordered, utc
):
    from datetime import UTC

    from followups.models import FollowUp, SlaPolicy
    from followups.services import RULES, DeadlineShifts, _set_deadlines

    due_field, overdue_field = RULES[rule]
    policy = SlaPolicy(pk=1, name="P", warn_before=warn, escalate_after=escalate)
    policy.reassign_after = reassign
    setattr(policy, due_field, due)
    if overdue_field:
        setattr(policy, overdue_field, overdue)
    if ordered:
        starts = sorted(starts)
    shifts = DeadlineShifts()
    for minute, second, micro in starts:
        start = (day + timedelta(minutes=minute, seconds=second, microseconds=micro)).replace(
            tzinfo=TZ
        )
        if utc:
            start = start.astimezone(UTC)
        shifted, plain = (FollowUp(rule=rule, starts_at=start) for _i in range(2))
        shifts.set(shifted, policy=policy, calendar=calendar)
        _set_deadlines(plain, policy=policy, calendar=calendar)
        for name in ("warn_at", "due_at", "overdue_at", "escalate_at", "reassign_at"):
            got, want = getattr(shifted, name), getattr(plain, name)
            assert got == want, (name, start)
            if want is not None:
                # The same instant in the same zone: isoformat() goes into the timeline.
                assert got.isoformat() == want.isoformat(), (name, start)
                assert got.tzinfo is want.tzinfo, (name, start)


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
