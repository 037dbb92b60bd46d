"""Sweep benchmark (issue: SLA engine).

On PostgreSQL: 1M leads with 2M follow-ups, 100k of them newly overdue.
Prints the sweep's wall time next to the floor measured in the same run — a
bare SQL UPDATE flagging the same rows — like with like: the sweep on one
connection against the UPDATE on one (target <= 1.5x; also in PostgreSQL's CPU
time, and next to a reference: the UPDATE that writes the escalation rows too),
and the sweep's backlog on LEADBRIDGE_SWEEP_WORKERS connections against the
UPDATE split by id range over as many connections at once; then a steady-state
tick with 5k newly overdue (target < 250 ms).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadbridge python bench/sweep_bench.py [--leads N]
"""

import argparse
import math
from datetime import timedelta

from _setup import (
    bench_database,
    cpu_of,
    cpu_used,
    drop_bench_database,
    median_ms,
    process_command,
    timer,
)

parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
)
parser.add_argument("--leads", type=int, default=1_000_000)
parser.add_argument("--overdue", type=int, default=100_000)
parser.add_argument("--steady", type=int, default=5_000)
parser.add_argument("--rounds", type=int, default=3)
parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
args = parser.parse_args()

db_name = bench_database()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import Role, Team, User  # noqa: E402
from followups.models import Escalation, FollowUp, Notification, SlaPolicy  # noqa: E402
from followups.services import sweep_overdue  # noqa: E402

NOW = timezone.now()


def copy_rows(table: str, columns: list[str], rows) -> None:
    with (
        connection.cursor() as cursor,
        cursor.connection.cursor().copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def build() -> None:
    team = Team.objects.create(name="Bench", region="DE")
    reps = [
        User.objects.create(
            username=f"rep{i}", role=Role.REP, team=team, email=f"rep{i}@example.com"
        )
        for i in range(12)
    ]
    User.objects.create(username="lead", role=Role.MANAGER, team=team, email="lead@example.com")
    policy = SlaPolicy.objects.create(name="Standard")
    received = NOW - timedelta(days=2)
    lead_columns = [
        "id",
        "channel",
        "source",
        "external_id",
        "company",
        "contact_name",
        "email",
        "phone",
        "street",
        "postcode",
        "city",
        "country",
        "region",
        "message",
        "requests_material",
        "wants_call",
        "consent_text",
        "received_at",
        "stage",
        "owner_id",
        "team_id",
        "decision",
        "decision_reason",
        "decision_note",
        "dedup_key",
        "consent_language",
        "lawful_basis",
        "lawful_basis_source",
        "marketing_consent_text",
        "created_at",
        "updated_at",
    ]
    copy_rows(
        "leads_lead",
        lead_columns,
        (
            (
                i,
                "website",
                "api",
                "",
                f"Firma {i}",
                "Kim Kunde",
                f"k{i}@example.com",
                "",
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
                "de",
                "legitimate_interest",
                "api",
                "",
                received,
                received,
            )
            for i in range(1, args.leads + 1)
        ),
    )
    fu_columns = [
        "id",
        "lead_id",
        "kind",
        "next_step",
        "assignee_id",
        "policy_id",
        "rule",
        "starts_at",
        "warn_at",
        "due_at",
        "overdue_at",
        "escalate_at",
        "reassign_at",
        "completed_at",
        "outcome",
        "note",
        "attempts",
        "warned_at",
        "escalation_level",
        "created_at",
        "updated_at",
    ]
    later = NOW + timedelta(days=3)

    def followups():
        fid = 0
        for i in range(1, args.leads + 1):
            rep = reps[i % 12].pk
            # every lead's accept/reject is done; the material is overdue for the first N,
            # done for most, and still running for the rest.
            fid += 1
            yield (
                fid,
                i,
                "decision",
                "",
                rep,
                policy.pk,
                "decision",
                received,
                received,
                received,
                received,
                later,
                None,
                received + timedelta(hours=2),
                "accepted",
                "",
                0,
                None,
                0,
                received,
                received,
            )
            fid += 1
            if i <= args.overdue:
                overdue_at = NOW - timedelta(minutes=1 + i % 50)
                yield (
                    fid,
                    i,
                    "material",
                    "",
                    rep,
                    policy.pk,
                    "material_digital",
                    received,
                    overdue_at,
                    overdue_at,
                    overdue_at,
                    later,
                    None,
                    None,
                    "",
                    "",
                    0,
                    overdue_at,
                    0,
                    received,
                    received,
                )
            elif i % 4:
                yield (
                    fid,
                    i,
                    "material",
                    "",
                    rep,
                    policy.pk,
                    "material_digital",
                    received,
                    received,
                    received,
                    received,
                    later,
                    None,
                    received + timedelta(hours=1),
                    "emailed",
                    "",
                    0,
                    None,
                    0,
                    received,
                    received,
                )
            else:
                yield (
                    fid,
                    i,
                    "material",
                    "",
                    rep,
                    policy.pk,
                    "material_digital",
                    received,
                    later,
                    later,
                    later,
                    later,
                    None,
                    None,
                    "",
                    "",
                    0,
                    None,
                    0,
                    received,
                    received,
                )

    copy_rows("followups_followup", fu_columns, followups())
    with connection.cursor() as cursor:
        for table in ("leads_lead", "followups_followup"):
            cursor.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"
            )
    analyze()


def analyze() -> None:
    with connection.cursor() as cursor:
        for table in (
            "followups_followup",
            "followups_escalation",
            "followups_notification",
            "leads_lead",
        ):
            cursor.execute(f"VACUUM ANALYZE {table}")


def reset() -> None:
    """Undo a sweep: the same rows newly overdue again."""
    Escalation.objects.all().delete()
    Notification.objects.all().delete()
    FollowUp.objects.filter(escalation_level__gt=0).update(escalation_level=0, flagged_at=None)
    analyze()


FLOOR_SQL = """
UPDATE followups_followup SET escalation_level = 1, flagged_at = %s, updated_at = %s
WHERE completed_at IS NULL AND escalation_level = 0 AND overdue_at <= %s
"""


# Not the floor, a reference printed next to it: the same UPDATE also writing the one
# Escalation row per follow-up that makes the step happen once (under its unique key),
# in one statement — what any exactly-once sweep writes, before claiming, batching or
# notifications.
ESCALATED_SQL = f"""
WITH flagged AS ({FLOOR_SQL} RETURNING id)
INSERT INTO followups_escalation (followup_id, level, at, data)
SELECT id, 1, %s, '{{}}' FROM flagged
"""


def backend_cpu() -> dict[int, float]:
    """CPU time so far of this connection's PostgreSQL backend, when PostgreSQL runs on this
    machine (else empty): steadier than wall time while other work loads the machine."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    return cpu_of([pid]) if process_command(pid) == "postgres" else {}


def floor_once(samples: list, cpu: list, sql: str = FLOOR_SQL, params=(NOW, NOW, NOW)) -> int:
    """The bare UPDATE of the same rows, committed like the sweep's, then undone."""
    with connection.cursor() as cursor:
        before = backend_cpu()
        with timer(samples):
            cursor.execute(sql, params)  # autocommit: one statement, one commit
        cpu.append(cpu_used(before, backend_cpu()))
        count = cursor.rowcount
    reset()  # the same rows newly overdue again, vacuumed: the sweep starts from the same state
    return count


def floor_split_once(samples: list, workers: int) -> int:
    """The same UPDATE split by id range over `workers` connections at once, then undone:
    the floor for the sweep's backlog on as many connections."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from django.db import connections

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT percentile_disc(%s) WITHIN GROUP (ORDER BY id) FROM followups_followup"
            " WHERE completed_at IS NULL AND escalation_level = 0 AND overdue_at <= %s",
            [[k / workers for k in range(1, workers)], NOW],
        )
        bounds = [0, *cursor.fetchone()[0], 2**62]
    ready = threading.Barrier(workers + 1)

    def part(k: int) -> int:
        try:
            connections["default"].ensure_connection()
            ready.wait()
            with connections["default"].cursor() as cursor:
                cursor.execute(
                    FLOOR_SQL + " AND id > %s AND id <= %s",
                    [NOW, NOW, NOW, bounds[k], bounds[k + 1]],
                )
                return cursor.rowcount
        finally:
            connections["default"].close()

    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [pool.submit(part, k) for k in range(workers)]
        ready.wait()
        with timer(samples):
            count = sum(future.result() for future in futures)
    reset()
    return count


def main() -> None:
    from time import perf_counter

    started = perf_counter()
    build()
    print(
        f"built {args.leads:,} leads / {FollowUp.objects.count():,} follow-ups in {perf_counter() - started:.1f} s"
    )
    connection.ensure_connection()
    connection.connection.autocommit = True

    workers = settings.LEADBRIDGE_SWEEP_WORKERS
    floor, floor_split, sweep, single, escalated = [], [], [], [], []
    floor_cpu, single_cpu, escalated_cpu = [], [], []
    for _round in range(args.rounds):
        flagged_by_floor = floor_once(floor, floor_cpu)
        assert floor_split_once(floor_split, workers) == flagged_by_floor == args.overdue
        assert floor_once(escalated, escalated_cpu, ESCALATED_SQL, [NOW] * 4) == args.overdue
        with timer(sweep):
            report = sweep_overdue(now=NOW)
        assert report.overdue == flagged_by_floor == args.overdue, (report, flagged_by_floor)
        reset()
        before = backend_cpu()
        with timer(single):
            report = sweep_overdue(now=NOW, workers=1)
        single_cpu.append(cpu_used(before, backend_cpu()))
        assert report.overdue == args.overdue, report
        reset()
    # Like with like: each sweep against the bare UPDATE on as many connections.
    one = median_ms(single) / median_ms(floor)
    many = median_ms(sweep) / median_ms(floor_split)
    print(f"newly overdue           : {args.overdue:,} follow-ups (medians of {args.rounds})")
    print(
        "like with like: each sweep against the bare UPDATE of the same rows, committed,"
        " on as many connections, in this run"
    )
    print(
        f"one connection : sweep {median_ms(single):7.0f} ms / UPDATE {median_ms(floor):7.0f} ms"
        f" = {one:.2f}x  (target <= 1.50x) {'OK' if one <= 1.5 else 'OVER TARGET'}"
    )
    print(
        f"  reference, the UPDATE writing the escalation rows too: {median_ms(escalated):7.0f} ms"
        f" = {median_ms(escalated) / median_ms(floor):.2f}x the UPDATE"
    )
    if not math.isnan(median_ms(floor_cpu)):  # PostgreSQL runs on this machine
        print(
            f"  PostgreSQL CPU: sweep {median_ms(single_cpu):7.0f} ms / UPDATE"
            f" {median_ms(floor_cpu):7.0f} ms = {median_ms(single_cpu) / median_ms(floor_cpu):.2f}x;"
            f" the reference {median_ms(escalated_cpu) / median_ms(floor_cpu):.2f}x"
        )
    print(
        f"{workers} connections  : sweep {median_ms(sweep):7.0f} ms / UPDATE split by id"
        f" {median_ms(floor_split):7.0f} ms = {many:.2f}x  (LEADBRIDGE_SWEEP_WORKERS)"
    )

    # Steady state: only `steady` of them newly overdue at this tick.
    FollowUp.objects.filter(
        completed_at__isnull=True, overdue_at__lte=NOW, pk__gt=2 * args.steady
    ).update(overdue_at=NOW + timedelta(days=1))
    analyze()
    ticks = []
    for _round in range(args.rounds):
        with timer(ticks):
            report = sweep_overdue(now=NOW)
        assert report.overdue == args.steady, report
        reset()
    idle = []
    for _round in range(args.rounds):
        with timer(idle):
            sweep_overdue(now=NOW - timedelta(days=1))
    print(
        f"steady tick, {args.steady:,} newly overdue: {median_ms(ticks):6.0f} ms  (target < 250 ms) "
        f"{'OK' if median_ms(ticks) < 250 else 'OVER TARGET'}"
    )
    print(f"idle tick, nothing due  : {median_ms(idle):6.1f} ms")


try:
    main()
finally:
    if not args.keep:
        drop_bench_database(db_name)
