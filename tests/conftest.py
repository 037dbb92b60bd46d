"""Fixtures everyone uses: named users for the roles, their teams, a campaign."""

import os

import pytest
from django.core.cache import cache

from accounts.models import Role
from leadbridge import lookups

from .factories import CampaignFactory, InfoMaterialFactory, TeamFactory, UserFactory


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix):
    """A test database per pytest process, so two runs in one checkout never drop each other's."""
    from django.db import connections

    suffix = f"_{os.getpid()}"
    for alias in connections:
        settings_dict = connections[alias].settings_dict
        test = settings_dict.setdefault("TEST", {})
        name = test.get("NAME") or (
            settings_dict["NAME"]
            if settings_dict["ENGINE"].endswith("sqlite3")
            else f"test_{settings_dict['NAME']}"
        )
        name = str(name)
        if name.endswith(".sqlite3"):
            test["NAME"] = name.removesuffix(".sqlite3") + suffix + ".sqlite3"
        else:
            test["NAME"] = name + suffix


@pytest.fixture(autouse=True)
def _fast_and_quiet(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.CELERY_TASK_ALWAYS_EAGER = False
    # Process-local lookups on (the tests are one process): the suite runs through them.
    settings.LEADBRIDGE_LOOKUP_CACHE = "default"
    cache.clear()
    lookups.intake.clear_local()


@pytest.fixture
def team(db):
    return TeamFactory(name="Vertrieb Süd", region="DE-BY")


@pytest.fixture
def other_team(db):
    return TeamFactory(name="Vertrieb Nord", region="DE-HH")


@pytest.fixture
def rep(team):
    return UserFactory(
        username="rita", first_name="Rita", last_name="Rep", role=Role.REP, team=team
    )


@pytest.fixture
def second_rep(team):
    return UserFactory(
        username="sven", first_name="Sven", last_name="Sales", role=Role.REP, team=team
    )


@pytest.fixture
def other_team_rep(other_team):
    return UserFactory(
        username="otto", first_name="Otto", last_name="Other", role=Role.REP, team=other_team
    )


@pytest.fixture
def manager(team):
    return UserFactory(
        username="mara", first_name="Mara", last_name="Manager", role=Role.MANAGER, team=team
    )


@pytest.fixture
def marketer(db):
    return UserFactory(
        username="mike", first_name="Mike", last_name="Marketing", role=Role.MARKETING
    )


@pytest.fixture
def printed_brochure(db):
    return InfoMaterialFactory(title="Katalog 2026", kind="printed")


@pytest.fixture
def campaign(team, marketer, printed_brochure):
    return CampaignFactory(
        name="Hannover Messe", owner=marketer, team=team, materials=[printed_brochure]
    )


def pytest_runtest_setup(item):
    """Tests marked postgres (row locks, SKIP LOCKED, LISTEN/NOTIFY, prepared statements)
    are skipped on the embedded SQLite default."""
    if item.get_closest_marker("postgres") is not None:
        from django.db import connection

        if connection.vendor != "postgresql":
            pytest.skip("needs PostgreSQL")
