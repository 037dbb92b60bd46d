"""Business time: working days, office hours and public holidays of a region.

Deadlines in LeadBridge are counted in business time from when a lead was
received (PRODUCT.md, "The handoff contract"). Everything here works in the
local wall-clock time of Europe/Berlin (Vienna and Zurich share its offsets),
so office hours are stable across DST switches; results are aware datetimes.

Rules:
- adding 0 returns the start unchanged ("digital material: at once");
- a start outside office hours first moves to the next opening;
- N business days land at the same clock time N working days later;
- N business hours/minutes consume office time, skipping nights, weekends
  and holidays; a deadline may fall exactly on closing time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

import holidays
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

TZ = ZoneInfo("Europe/Berlin")

_DE_STATES = {
    "BW": "Baden-Württemberg",
    "BY": "Bayern",
    "BE": "Berlin",
    "BB": "Brandenburg",
    "HB": "Bremen",
    "HH": "Hamburg",
    "HE": "Hessen",
    "MV": "Mecklenburg-Vorpommern",
    "NI": "Niedersachsen",
    "NW": "Nordrhein-Westfalen",
    "RP": "Rheinland-Pfalz",
    "SL": "Saarland",
    "SN": "Sachsen",
    "ST": "Sachsen-Anhalt",
    "SH": "Schleswig-Holstein",
    "TH": "Thüringen",
}
REGION_CHOICES = [
    ("DE", _("Germany (nationwide holidays)")),
    *[(f"DE-{code}", f"Deutschland – {name}") for code, name in _DE_STATES.items()],
    ("AT", _("Austria")),
    ("CH", _("Switzerland")),
]
REGIONS = {code for code, _label in REGION_CHOICES}


@dataclass(frozen=True)
class BusinessDuration:
    """An amount of business time: days ('d'), hours ('h') or minutes ('m')."""

    amount: int
    unit: str

    _PATTERN = re.compile(r"^\s*(\d{1,4})\s*([dhm]?)\s*$")

    @classmethod
    def parse(cls, text: str) -> BusinessDuration:
        # A few distinct texts (the policies' fields), parsed for every deadline: cached.
        return _parse_duration(cls, text)

    @classmethod
    def _parse(cls, text: str) -> BusinessDuration:
        match = cls._PATTERN.match(text or "")
        if not match:
            raise ValidationError(
                _("%(value)r is not a business duration; write e.g. 0, 30m, 4h or 2d."),
                params={"value": text},
            )
        amount, unit = int(match[1]), match[2] or "d"
        if amount and not match[2]:
            raise ValidationError(_("Give a unit: d (days), h (hours) or m (minutes)."))
        return cls(amount, unit if amount else "m")

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}" if self.amount else "0"


@lru_cache(maxsize=256)
def _parse_duration(cls, text: str) -> BusinessDuration:
    return cls._parse(text)  # immutable (frozen), so one instance may serve every caller


def validate_business_duration(value: str) -> None:
    BusinessDuration.parse(value)


_MOVED_KEPT = 100_000


class BusinessCalendar:
    def __init__(self, region: str = "DE", opens_at: time = time(8), closes_at: time = time(17)):
        if region not in REGIONS:
            raise ValueError(f"unknown calendar region {region!r}")
        if isinstance(opens_at, str):
            opens_at = time.fromisoformat(opens_at)
        if isinstance(closes_at, str):
            closes_at = time.fromisoformat(closes_at)
        if opens_at >= closes_at:
            raise ValueError("office must open before it closes")
        country, _sep, subdiv = region.partition("-")
        self.region = region
        self.opens_at = opens_at
        self.closes_at = closes_at
        self._holidays = holidays.country_holidays(country, subdiv=subdiv or None)
        # Whether a date is a working day never changes: asked for every deadline, kept;
        # so is the working day N working days after a date.
        self._working: dict[date, bool] = {}
        self._days_after: dict[tuple[date, int], date] = {}
        # add() and subtract() by (instant, duration): a batch of leads shares a few
        # received_at instants (a bulk request's now, a trade fair's scan times), and a
        # deadline ladder asks the same question for each of them. Bounded: cleared when full.
        self._moved: dict[tuple, datetime] = {}

    @classmethod
    @lru_cache(maxsize=64)
    def for_region(cls, region: str, opens_at: time = time(8), closes_at: time = time(17)):
        return cls(region, opens_at, closes_at)

    def __repr__(self) -> str:
        return f"BusinessCalendar({self.region!r}, {self.opens_at}, {self.closes_at})"

    # --- days -----------------------------------------------------------
    def is_holiday(self, day: date) -> bool:
        return day in self._holidays

    def is_working_day(self, day: date) -> bool:
        working = self._working.get(day)
        if working is None:
            working = self._working[day] = day.weekday() < 5 and day not in self._holidays
        return working

    def next_working_day(self, day: date) -> date:
        day += timedelta(days=1)
        while not self.is_working_day(day):
            day += timedelta(days=1)
        return day

    def _at(self, day: date, clock: time) -> datetime:
        return datetime.combine(day, clock, tzinfo=TZ)

    def closing_on(self, day: date) -> datetime:
        """The office's closing time on `day` (whether or not it is a working day)."""
        return self._at(day, self.closes_at)

    # --- instants -------------------------------------------------------
    def snap(self, moment: datetime) -> datetime:
        """The moment itself if the office is open then, else the next opening."""
        local = moment.astimezone(TZ)
        day = local.date()
        if self.is_working_day(day):
            if local.time() < self.opens_at:
                return self._at(day, self.opens_at)
            if local.time() < self.closes_at:
                return local
        return self._at(self.next_working_day(day), self.opens_at)

    def add(self, start: datetime, duration: BusinessDuration | str) -> datetime:
        if isinstance(duration, str):
            duration = BusinessDuration.parse(duration)
        if duration.amount == 0:
            return start
        key = (start, duration, 1)
        moved = self._moved.get(key)
        if moved is None:
            if duration.unit == "d":
                moved = self.add_days(start, duration.amount)
            else:
                minutes = duration.amount * (60 if duration.unit == "h" else 1)
                moved = self.add_minutes(start, minutes)
            self._remember(key, moved)
        return moved

    def _remember(self, key: tuple, moved: datetime) -> None:
        if len(self._moved) >= _MOVED_KEPT:
            self._moved.clear()
        self._moved[key] = moved

    def add_days(self, start: datetime, days: int) -> datetime:
        current = self.snap(start)
        day, clock = current.date(), current.time().replace(tzinfo=None)
        target = self._days_after.get((day, days))
        if target is None:
            target = day
            for _i in range(days):
                target = self.next_working_day(target)
            self._days_after[(day, days)] = target
        return self._at(target, clock)

    def add_minutes(self, start: datetime, minutes: int) -> datetime:
        current = self.snap(start)
        remaining = timedelta(minutes=minutes)
        while True:
            closing = self._at(current.date(), self.closes_at)
            available = closing - current
            if remaining <= available:
                return (current + remaining).astimezone(TZ)
            remaining -= available
            current = self._at(self.next_working_day(current.date()), self.opens_at)

    def subtract(self, end: datetime, duration: BusinessDuration | str | None) -> datetime:
        """The latest moment from which `duration` of business time reaches `end`."""
        if isinstance(duration, str):
            duration = BusinessDuration.parse(duration)
        if duration is None or duration.amount == 0:
            return end
        key = (end, duration, -1)
        moved = self._moved.get(key)
        if moved is None:
            moved = self._subtract(end, duration)
            self._remember(key, moved)
        return moved

    def _subtract(self, end: datetime, duration: BusinessDuration) -> datetime:
        if duration.unit == "d":
            current = self.snap_back(end)
            day, clock = current.date(), current.time().replace(tzinfo=None)
            for _i in range(duration.amount):
                day = self.previous_working_day(day)
            return self._at(day, clock)
        remaining = timedelta(minutes=duration.amount * (60 if duration.unit == "h" else 1))
        current = self.snap_back(end)
        while True:
            opening = self._at(current.date(), self.opens_at)
            available = current - opening
            if remaining <= available:
                return (current - remaining).astimezone(TZ)
            remaining -= available
            current = self._at(self.previous_working_day(current.date()), self.closes_at)

    def previous_working_day(self, day: date) -> date:
        day -= timedelta(days=1)
        while not self.is_working_day(day):
            day -= timedelta(days=1)
        return day

    def snap_back(self, moment: datetime) -> datetime:
        """The moment itself if within office hours (closing included), else the last closing."""
        local = moment.astimezone(TZ)
        day = local.date()
        if self.is_working_day(day):
            if local.time() > self.closes_at:
                return self._at(day, self.closes_at)
            if local.time() > self.opens_at:
                return local
        return self._at(self.previous_working_day(day), self.closes_at)

    def business_minutes_between(self, start: datetime, end: datetime) -> int:
        """Office minutes in [start, end); negative when end is before start."""
        if end < start:
            return -self.business_minutes_between(end, start)
        start_local, end_local = start.astimezone(TZ), end.astimezone(TZ)
        first, last = start_local.date(), end_local.date()
        total = timedelta()
        for day in {first, last}:  # the two ends are cut by start and end
            if self.is_working_day(day):
                lo = max(start_local, self._at(day, self.opens_at))
                hi = min(end_local, self._at(day, self.closes_at))
                if hi > lo:
                    total += hi - lo
        # Every working day in between counts whole (wall-clock hours, DST or not): only
        # counted, not built as datetimes, as the queue asks this for every late row.
        between = sum(
            self.is_working_day(first + timedelta(days=n)) for n in range(1, (last - first).days)
        )
        total += between * (
            datetime.combine(first, self.closes_at) - datetime.combine(first, self.opens_at)
        )
        return int(total.total_seconds() // 60)
