"""Queue page benchmark (issue: sales workspace).

On PostgreSQL: 100k open follow-ups in one team of 12 reps. Requests the rep's
queue page and the team lead's team queue through Django's test client (the
whole view: queries and template) and prints p50/p95 against the 100 ms target,
next to the floor of the same run: one bare indexed SELECT of a page of rows.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadbridge python bench/queue_bench.py
"""

import argparse
import time
from datetime import timedelta

from _setup import bench_database, drop_bench_database, median_ms, p95_ms, timer

parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
)
parser.add_argument("--open", type=int, default=100_000, help="open follow-ups")
parser.add_argument("--requests", type=int, default=60)
parser.add_argument("--keep", action="store_true")
parser.add_argument("--reuse", action="store_true", help="reuse the data a --keep run left")
parser.add_argument("--profile", action="store_true", help="cProfile one request of each queue")
args = parser.parse_args()

db_name = bench_database(reuse=args.reuse)

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import Role, Team, User  # noqa: E402
from campaigns.models import Campaign  # noqa: E402
from followups.models import SlaPolicy  # noqa: E402

NOW = timezone.now()


def build() -> tuple[User, User]:
    if args.reuse and User.objects.filter(username="rep0").exists():
        return User.objects.get(username="rep0"), User.objects.get(username="teamlead")
    team = Team.objects.create(name="Bench", region="DE")
    reps = [
        User.objects.create_user(f"rep{i}", password="pw", role=Role.REP, team=team)
        for i in range(12)
    ]
    lead_user = User.objects.create_user("teamlead", password="pw", role=Role.MANAGER, team=team)
    owner = User.objects.create_user("mkt", password="pw", role=Role.MARKETING)
    campaign = Campaign.objects.create(
        name="Messe", channel="trade_fair", owner=owner, starts_on=NOW.date(), team=team
    )
    policy = SlaPolicy.objects.create(name="Standard")
    leads = args.open // 2
    with (
        connection.cursor() as cursor,
        cursor.connection.cursor().copy(
            "COPY leads_lead (id, campaign_id, channel, source, external_id, company, contact_name, email, phone, street, "
            "postcode, city, country, region, message, requests_material, wants_call, consent_text, received_at, stage, "
            "owner_id, team_id, decision, decision_reason, decision_note, dedup_key, created_at, updated_at, "
            "consent_language, lawful_basis, lawful_basis_source, marketing_consent_text) FROM STDIN"
        ) as copy,
    ):
        for i in range(1, leads + 1):
            received = NOW - timedelta(minutes=i)
            copy.write_row(
                (
                    i,
                    campaign.pk,
                    "trade_fair",
                    "import",
                    "",
                    f"Firma {i}",
                    "Kim Kunde",
                    f"k{i}@example.com",
                    "089 1234",
                    "",
                    "80331",
                    "München",
                    "DE",
                    "",
                    "",
                    True,
                    False,
                    "",
                    received,
                    "lead",
                    reps[i % 12].pk,
                    team.pk,
                    "",
                    "",
                    "",
                    f"e:k{i}@example.com",
                    received,
                    received,
                    "",
                    "",
                    "",
                    "",
                )
            )
    with (
        connection.cursor() as cursor,
        cursor.connection.cursor().copy(
            "COPY followups_followup (lead_id, kind, next_step, assignee_id, policy_id, rule, starts_at, warn_at, due_at, "
            "overdue_at, escalate_at, outcome, note, attempts, escalation_level, created_at, updated_at) FROM STDIN"
        ) as copy,
    ):
        for i in range(1, leads + 1):
            received = NOW - timedelta(minutes=i)
            rep = reps[i % 12].pk
            for kind, offset in (
                ("material", timedelta(hours=20)),
                ("decision", timedelta(days=1)),
            ):
                due = received + offset
                copy.write_row(
                    (
                        i,
                        kind,
                        "",
                        rep,
                        policy.pk,
                        kind,
                        received,
                        due,
                        due,
                        due,
                        due + timedelta(days=1),
                        "",
                        "",
                        0,
                        0,
                        received,
                        received,
                    )
                )
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(pg_get_serial_sequence('leads_lead', 'id'), %s)", [leads])
        cursor.execute("VACUUM ANALYZE leads_lead")
        cursor.execute("VACUUM ANALYZE followups_followup")
    return reps[0], lead_user


class SqlTime:
    """Wall time spent in the database during a request (connection.execute_wrapper)."""

    def __init__(self):
        self.seconds = 0.0
        self.queries = 0

    def __call__(self, execute, sql, params, many, context):
        start = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            self.seconds += time.perf_counter() - start
            self.queries += 1


def measure(client: Client, url: str) -> tuple[list[float], list[float], list[float], int]:
    """Request timings, the SQL part of each (wall) and this process's CPU (Python: ORM,
    template, lateness), so the report says where time goes even on a loaded machine."""
    samples, sql, cpu = [], [], []
    client.get(url)  # warm
    for _ in range(args.requests):
        spent = SqlTime()
        started = time.process_time()
        with connection.execute_wrapper(spent), timer(samples):
            response = client.get(url)
        cpu.append(time.process_time() - started)
        assert response.status_code == 200, response.status_code
        sql.append(spent.seconds)
    return samples, sql, cpu, spent.queries


def profile(client: Client, url: str) -> None:
    import cProfile
    import pstats

    profiler = cProfile.Profile(time.process_time)  # CPU: the machine may be busy
    profiler.runcall(client.get, url)
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(25)
    stats.sort_stats("cumulative").print_stats(
        r"leadbridge_extras|calendar|followups/views|reverse|translation|ngettext", 25
    )


def main() -> None:
    started = time.perf_counter()
    rep, lead_user = build()
    print(f"built {args.open:,} open follow-ups in {time.perf_counter() - started:.1f} s")
    floor = []
    with connection.cursor() as cursor:
        for _ in range(args.requests):
            with timer(floor):
                cursor.execute(
                    "SELECT * FROM followups_followup WHERE assignee_id = %s AND completed_at IS NULL "
                    "ORDER BY due_at, id LIMIT 26",
                    [rep.pk],
                )
                cursor.fetchall()
    print(
        f"floor: one page SELECT              p50 {median_ms(floor):6.1f} ms  p95 {p95_ms(floor):6.1f} ms"
    )
    for user, label in ((rep, "rep queue"), (lead_user, "team lead queue (all 12 reps)")):
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(user)
        samples, sql, cpu, queries = measure(client, "/queue/")
        verdict = "OK" if p95_ms(samples) < 100 else "OVER TARGET"
        print(
            f"{label:36s} p50 {median_ms(samples):6.1f} ms  p95 {p95_ms(samples):6.1f} ms  "
            f"(target p95 < 100 ms) {verdict}\n"
            f"{'':36s} of which SQL p50 {median_ms(sql):6.1f} ms in {queries} queries; "
            f"Python CPU p50 {median_ms(cpu):6.1f} ms"
        )
        if args.profile:
            profile(client, "/queue/")


try:
    main()
finally:
    if not args.keep:
        drop_bench_database(db_name)
