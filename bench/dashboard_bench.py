"""Dashboard benchmark (issue: manager dashboards).

On PostgreSQL: 1M leads over 90 days with 3M follow-ups and their milestones.
Requests the manager dashboard (default period, the last 30 days) through
Django's test client and prints p50/p95 against the 300 ms target, next to the
floor of the same run: one bare COUNT(*) over the period's leads.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadbridge python bench/dashboard_bench.py [--leads N]
"""

import argparse
import random
import time
from datetime import timedelta

from _setup import bench_database, drop_bench_database, median_ms, p95_ms, timer

parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
parser.add_argument("--leads", type=int, default=1_000_000)
parser.add_argument("--requests", type=int, default=20)
parser.add_argument("--keep", action="store_true")
args = parser.parse_args()

db_name = bench_database()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import Role, Team, User  # noqa: E402
from campaigns.models import Campaign  # noqa: E402
from followups.models import SlaPolicy  # noqa: E402

NOW = timezone.now()


def build() -> User:
    rng = random.Random(1)
    teams = [Team.objects.create(name=f"Team {i}", region="DE") for i in range(3)]
    reps = [User.objects.create_user(f"rep{i}", role=Role.REP, team=teams[i % 3]) for i in range(12)]
    manager = User.objects.create_user("manager", password="pw", role=Role.MANAGER, team=teams[0])
    owner = User.objects.create_user("mkt", role=Role.MARKETING)
    campaigns = [Campaign.objects.create(name=f"C{i}", channel="trade_fair", owner=owner, starts_on=NOW.date())
                 for i in range(10)]
    policy = SlaPolicy.objects.create(name="Standard")
    with connection.cursor() as cursor, cursor.connection.cursor().copy(
        "COPY leads_lead (id, campaign_id, channel, source, external_id, company, contact_name, email, phone, street, "
        "postcode, city, country, region, message, requests_material, wants_call, consent_text, received_at, stage, "
        "owner_id, team_id, decision, decision_reason, decision_note, dedup_key, created_at, updated_at, "
        "material_sent_at, material_minutes, material_on_time, first_contact_at, first_contact_minutes, reached_at) "
        "FROM STDIN"
    ) as copy:
        for i in range(1, args.leads + 1):
            received = NOW - timedelta(minutes=rng.randint(0, 90 * 24 * 60))
            rep = reps[i % 12]
            material = rng.random() < 0.6
            sent = received + timedelta(hours=rng.randint(1, 300)) if material and rng.random() < 0.8 else None
            called = received + timedelta(hours=rng.randint(1, 100)) if rng.random() < 0.5 else None
            decision = rng.choice(["", "accepted", "rejected"])
            copy.write_row((
                i, campaigns[i % 10].pk, "trade_fair", "import", "", f"Firma {i}", "Kim", f"k{i}@example.com", "", "",
                "80331", "München", "DE", "", "", material, False, "", received, "lead", rep.pk, rep.team_id,
                decision, "no_need" if decision == "rejected" else "", "", f"e:k{i}@example.com", received, received,
                sent, sent and rng.randint(60, 9000), sent and rng.random() < 0.7, called,
                called and rng.randint(30, 6000), called if called and rng.random() < 0.6 else None,
            ))
    with connection.cursor() as cursor, cursor.connection.cursor().copy(
        "COPY followups_followup (lead_id, kind, next_step, assignee_id, policy_id, rule, starts_at, warn_at, due_at, "
        "overdue_at, escalate_at, completed_at, outcome, note, attempts, escalation_level, created_at, updated_at) "
        "FROM STDIN"
    ) as copy:
        for i in range(1, args.leads + 1):
            received = NOW - timedelta(minutes=rng.randint(0, 90 * 24 * 60))
            rep = reps[i % 12].pk
            for kind in ("material", "callback", "decision"):
                due = received + timedelta(days=1)
                done = due if rng.random() < 0.9 else None
                copy.write_row((i, kind, "", rep, policy.pk, kind, received, due, due, due, due + timedelta(days=1),
                                done, "done" if done else "", "", 0, 0, received, received))
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(pg_get_serial_sequence('leads_lead', 'id'), %s)", [args.leads])
        cursor.execute("VACUUM ANALYZE leads_lead")
        cursor.execute("VACUUM ANALYZE followups_followup")
    return manager


def main() -> None:
    started = time.perf_counter()
    manager = build()
    print(f"built {args.leads:,} leads / {3 * args.leads:,} follow-ups in {time.perf_counter() - started:.1f} s")
    floor = []
    with connection.cursor() as cursor:
        for _ in range(args.requests):
            with timer(floor):
                cursor.execute("SELECT count(*) FROM leads_lead WHERE team_id = %s AND received_at >= %s",
                               [manager.team_id, NOW - timedelta(days=30)])
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(manager)
    client.get("/dashboard/")
    samples = []
    for _ in range(args.requests):
        with timer(samples):
            assert client.get("/dashboard/").status_code == 200
    print(f"floor: COUNT(*) of the period's leads  p50 {median_ms(floor):7.1f} ms  p95 {p95_ms(floor):7.1f} ms")
    verdict = "OK" if p95_ms(samples) < 300 else "OVER TARGET"
    print(f"manager dashboard (team, 30 days)     p50 {median_ms(samples):7.1f} ms  p95 {p95_ms(samples):7.1f} ms  "
          f"(target p95 < 300 ms) {verdict}")


try:
    main()
finally:
    if not args.keep:
        drop_bench_database(db_name)
