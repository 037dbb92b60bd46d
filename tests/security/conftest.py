"""Two teams (A: the `team` fixture, B: `other_team`) and their team leads."""

import pytest

from accounts.models import Role

from ..factories import UserFactory


@pytest.fixture
def other_manager(other_team):
    return UserFactory(
        username="nina", first_name="Nina", last_name="Nord", role=Role.MANAGER, team=other_team
    )


@pytest.fixture(autouse=True)
def english():
    from django.utils import translation

    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _limits_in_memory(settings):
    # Throttle and web-form counters in the per-test local cache, not the shared Redis.
    settings.LEADBRIDGE_THROTTLE_CACHE = "default"
    settings.LEADBRIDGE_WEBFORM_CACHE = "default"
