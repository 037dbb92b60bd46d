"""Two leads of one team arriving at once get two different reps.

The router locks the team row, then reads the reps in statements of their own: the
choice must see what the transaction that held the lock committed, not the state
from before the wait.
"""

import threading
import time

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from accounts.models import Role, Team, User
from leads.intake.router import Router
from leads.models import Lead

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _someone_waits_for_a_lock(deadline: float) -> bool:
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.005)  # yield the 2 cores to the thread being waited for
    return False


def _route(team, now):
    lead = Lead(team=team)
    Router().assign([lead], now=now)
    return lead.owner


def test_a_lead_that_waited_for_the_team_lock_gets_the_next_rep():
    team = Team.objects.create(name="Messe", region="DE")
    for name in ("anna", "ben"):
        User.objects.create(username=name, role=Role.REP, team=team)
    now = timezone.now()
    chosen, errors = {}, []
    first_has_chosen, first_may_commit = threading.Event(), threading.Event()

    def first():
        try:
            with transaction.atomic():
                chosen["first"] = _route(team, now)
                first_has_chosen.set()
                first_may_commit.wait(10)
        except Exception as exc:  # re-raised in the test's thread
            errors.append(exc)
        finally:
            first_has_chosen.set()
            connections.close_all()

    def second():
        try:
            first_has_chosen.wait(10)
            with transaction.atomic():
                chosen["second"] = _route(team, now)
        except Exception as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    try:
        first_has_chosen.wait(10)
        # The second lead is inside Router.assign, held by the first one's lock.
        assert _someone_waits_for_a_lock(time.monotonic() + 10)
    finally:
        first_may_commit.set()
        for thread in threads:
            thread.join()
    assert not errors, errors
    assert chosen["first"] is not None and chosen["second"] is not None
    assert chosen["first"] != chosen["second"]
