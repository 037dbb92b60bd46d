from datetime import date, timedelta

import pytest
from django.utils import timezone


@pytest.fixture
def next_monday(team) -> date:
    """A Monday ahead whose week has no public holiday in the team's calendar."""
    calendar = team.calendar()
    day = timezone.localdate() + timedelta(days=7 - timezone.localdate().weekday())
    while not all(calendar.is_working_day(day + timedelta(days=i)) for i in range(5)):
        day += timedelta(days=7)
    return day


@pytest.fixture(autouse=True)
def english():
    """Messages are asserted in English (the German catalogue may be compiled)."""
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def webform_counts_in_memory(settings):
    """Rate-limit counts in the per-test local cache, not a Redis shared across runs."""
    settings.LEADBRIDGE_WEBFORM_CACHE = "default"
