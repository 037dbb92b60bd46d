"""rep_for and the duplicate check read their rows with hand-written SQL (leads.services
._fetch_one): the instances must be what the ORM reads, on SQLite and PostgreSQL alike."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import User
from leads.models import Lead
from leads.services import _known, rep_for

from ..factories import receive_lead

pytestmark = pytest.mark.django_db


def _same_as_the_orm(got):
    fresh = type(got).objects.get(pk=got.pk)
    for field in type(got)._meta.concrete_fields:
        assert getattr(got, field.attname) == getattr(fresh, field.attname), field.name
        value = getattr(got, field.attname)
        if hasattr(value, "tzinfo") and hasattr(value, "hour"):
            assert timezone.is_aware(value), field.name  # SQLite hands back naive text


def test_the_rep_chosen_is_read_as_the_orm_reads_it(team, rep):
    User.objects.filter(pk=rep.pk).update(last_assigned_at=timezone.now() - timedelta(days=1))
    chosen = rep_for(team=team, now=timezone.now())
    assert chosen == rep
    _same_as_the_orm(chosen)


def test_the_known_lead_is_read_as_the_orm_reads_it(campaign, rep):
    lead = receive_lead(
        campaign=campaign, external_id="K-1", received_at=timezone.now() - timedelta(hours=3)
    )
    known = _known(campaign=campaign, external_id="K-1", dedup_key=lead.dedup_key)
    assert known == lead and known.repeat
    _same_as_the_orm(known)
    assert isinstance(known, Lead)


def _generic_plan(sql: str, params: list, *, analyze: bool = False) -> str:
    """PostgreSQL's plan for `sql` as a prepared statement's generic plan (no values known);
    with analyze, run (in the test's transaction) and with each step's row and loop counts."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"PREPARE probe AS {sql}")
        cursor.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        literals = ", ".join(["%s"] * len(params))
        explain = "EXPLAIN ANALYZE" if analyze else "EXPLAIN"
        cursor.execute(f"{explain} EXECUTE probe({literals})", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute("DEALLOCATE probe")
    return plan


@pytest.mark.postgres
def test_the_prepared_duplicate_check_finds_a_repeat_by_its_index_however_big_the_campaign(
    campaign, rep
):
    """The statement is prepared (leadbridge.prepared): after five runs PostgreSQL may plan
    it once for any values. That plan must still look the repeat up in the unique index of
    (campaign, external_id), not read all of the campaign's leads."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    Lead.objects.bulk_create(
        Lead(
            campaign=campaign,
            company=f"Firma {i}",
            external_id=f"E-{i}",
            dedup_key=f"e:{i}@x.de",
            received_at=timezone.now(),
        )
        for i in range(3000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE leads_lead")
    with CaptureQueriesContext(connection) as queries:
        _known(campaign=campaign, external_id="E-7", dedup_key="e:new@x.de")
    (statement,) = [q["sql"] for q in queries.captured_queries if "FROM leads_lead" in q["sql"]]
    plan = _generic_plan(statement, [campaign.pk, "E-7", "e:new@x.de", campaign.pk, "E-7"])
    assert "lead_external_id_unique_per_campaign" in plan, plan
    assert "lead_campaign_received" not in plan and "Seq Scan" not in plan, plan


@pytest.mark.postgres
def test_the_prepared_rep_choice_counts_todays_leads_for_the_first_rep_in_line_only(team, rep):
    """Reps are read in line (index user_routing_line) until one is under capacity: with the
    first in line free, one count of today's leads, not one per rep of the team."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.models import Role

    now = timezone.now()
    for i in range(12):
        User.objects.create(
            username=f"rep{i}", role=Role.REP, team=team, last_assigned_at=now - timedelta(hours=i)
        )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE accounts_user")
    with CaptureQueriesContext(connection) as queries:
        rep_for(team=team, now=now)
    (statement,) = [
        q["sql"] for q in queries.captured_queries if "UPDATE accounts_user" in q["sql"]
    ]
    present = [team.pk, Role.REP.value, True, False]
    plan = _generic_plan(
        statement, [now, *present, now - timedelta(hours=12), *present], analyze=True
    )
    assert "user_routing_line" in plan, plan
    counts = [line for line in plan.splitlines() if "Aggregate" in line]
    assert counts and "loops=1)" in counts[0], plan


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_prepared_read_outside_a_transaction_survives_a_column_change(campaign, rep):
    """A prepared statement whose columns changed fails ("cached plan must not change
    result type"); outside a transaction nothing would make psycopg forget it, so every
    later call would fail until the connection closes. The cursor forgets and retries."""
    from django.db import connection

    lead = receive_lead(campaign=campaign, external_id="K-9")
    assert _known(campaign=campaign, external_id="K-9", dedup_key=None) == lead  # prepared
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE leads_lead ALTER COLUMN company TYPE varchar(201)")
    try:
        for _ in range(2):
            assert _known(campaign=campaign, external_id="K-9", dedup_key=None) == lead
    finally:
        with connection.cursor() as cursor:
            cursor.execute("ALTER TABLE leads_lead ALTER COLUMN company TYPE varchar(200)")
