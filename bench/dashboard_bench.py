"""Dashboard benchmark (issue: manager dashboards).

On PostgreSQL: 1M leads over 90 days with 3M follow-ups and their milestones.
Requests the manager dashboard (default period, the last 30 days) through
Django's test client and prints p50/p95 against the 300 ms target, next to the
floor of the same run: one bare COUNT(*) over the period's leads.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadbridge python bench/dashboard_bench.py [--leads N]
"""

import argparse
import os
import time
from datetime import timedelta

from _setup import bench_database, drop_bench_database, median_ms, timer

parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
)
parser.add_argument("--leads", type=int, default=1_000_000)
parser.add_argument("--requests", type=int, default=40)
parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
parser.add_argument("--reuse", action="store_true", help="reuse the data a --keep run left")
args = parser.parse_args()

db_name = bench_database(reuse=args.reuse)

from django.db import connection  # noqa: E402
from django.db.models import Max, Min  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import Role, Team, User  # noqa: E402
from campaigns.models import Campaign  # noqa: E402
from followups.models import SlaPolicy  # noqa: E402

NOW = timezone.now()


def build() -> tuple[User, User]:
    """1M leads over 90 days and three follow-ups each, generated in SQL (generate_series)."""
    teams = [Team.objects.create(name=f"Team {i}", region="DE") for i in range(3)]
    reps = [
        User.objects.create_user(f"rep{i}", role=Role.REP, team=teams[i % 3]) for i in range(12)
    ]
    manager = User.objects.create_user("manager", password="pw", role=Role.MANAGER, team=teams[0])
    admin = User.objects.create_user("admin", password="pw", role=Role.ADMIN)
    owner = User.objects.create_user("mkt", role=Role.MARKETING)
    channels = ["trade_fair", "website", "newsletter", "print_ad", "webinar"]
    campaigns = [
        Campaign.objects.create(
            name=f"C{i}", channel=channels[i % 5], owner=owner, starts_on=NOW.date()
        )
        for i in range(10)
    ]
    policy = SlaPolicy.objects.create(name="Standard")
    with connection.cursor() as cursor:
        cursor.execute("SELECT setseed(0.42)")
        # Same shape as the first version of this bench: 60 % ask for material, 80 % of those got it
        # (1-300 h later, 60-9000 business minutes, 70 % on time), half were called (30-6000 minutes),
        # 60 % of those reached, a third each accepted / rejected / undecided.
        cursor.execute(
            """
            INSERT INTO leads_lead (id, campaign_id, channel, source, external_id, company, contact_name, email,
                phone, street, postcode, city, country, region, message, requests_material, wants_call,
                consent_text, consent_language, lawful_basis, lawful_basis_source, marketing_consent_text,
                received_at, stage, owner_id, team_id, decision, decision_reason, decision_note,
                dedup_key, created_at, updated_at, material_sent_at, material_minutes, material_on_time,
                first_contact_at, first_contact_minutes, reached_at)
            SELECT i, (%(campaigns)s::int[])[1 + i %% 10], (%(channels)s::text[])[1 + (i %% 10) %% 5], 'import', '',
                'Firma ' || i, 'Kim', 'k' || i || '@example.com', '', '', '80331', 'München', 'DE', '', '',
                r.material, false, '', '', 'contract', '', '', r.received,
                CASE WHEN r.decision = 'rejected' THEN 'rejected' WHEN r.decision = 'accepted'
                     THEN (ARRAY['prospect', 'presales', 'sale', 'lead'])[1 + (i %% 4)] ELSE 'lead' END,
                (%(reps)s::int[])[1 + i %% 12], (%(teams)s::int[])[1 + i %% 12], r.decision,
                CASE WHEN r.decision = 'rejected' THEN 'no_need' ELSE '' END, '', 'e:k' || i || '@example.com',
                r.received, r.received,
                r.sent, CASE WHEN r.sent IS NOT NULL THEN 60 + floor(random() * 8941)::int END,
                CASE WHEN r.sent IS NOT NULL THEN random() < 0.7 END,
                r.called, CASE WHEN r.called IS NOT NULL THEN 30 + floor(random() * 5971)::int END,
                CASE WHEN r.called IS NOT NULL AND random() < 0.6 THEN r.called END
            FROM generate_series(1, %(n)s) AS i,
            LATERAL (
                SELECT received, material,
                    CASE WHEN material AND random() < 0.8 THEN received + (1 + floor(random() * 300)) * interval '1 hour' END AS sent,
                    CASE WHEN random() < 0.5 THEN received + (1 + floor(random() * 100)) * interval '1 hour' END AS called,
                    (ARRAY['', 'accepted', 'rejected'])[1 + floor(random() * 3)::int] AS decision
                -- ids follow receipt, as intake assigns them (about one lead every 8 s, with jitter)
                FROM (SELECT %(now)s::timestamptz - interval '90 days'
                             + ((i - random()) / %(n)s) * interval '90 days' AS received,
                             random() < 0.6 AS material) AS base
            ) AS r
            """,
            {
                "n": args.leads,
                "now": NOW,
                "campaigns": [c.pk for c in campaigns],
                "channels": [c.channel for c in campaigns[:5]],
                "reps": [r.pk for r in reps],
                "teams": [r.team_id for r in reps],
            },
        )
        # Material, call-back and decision follow-ups, due a day after receipt; 10 % never completed,
        # so about 300k are open and overdue: a pessimistic backlog.
        cursor.execute(
            """
            INSERT INTO followups_followup (lead_id, kind, next_step, assignee_id, policy_id, rule, starts_at,
                warn_at, due_at, overdue_at, escalate_at, completed_at, outcome, note, attempts, escalation_level,
                created_at, updated_at)
            SELECT l.id, k.kind, '', l.owner_id, %(policy)s, k.kind, l.received_at, d.due, d.due, d.due,
                d.due + interval '1 day', CASE WHEN d.done THEN d.due END, CASE WHEN d.done THEN 'done' ELSE '' END,
                '', 0, 0, l.received_at, l.received_at
            FROM leads_lead l
            CROSS JOIN (VALUES ('material'), ('callback'), ('decision')) AS k(kind)
            CROSS JOIN LATERAL (SELECT l.received_at + interval '1 day' AS due,
                                       random() < 0.9 OR k.kind IS NULL AS done) AS d
            """,
            {"policy": policy.pk},
        )
        cursor.execute(
            "SELECT setval(pg_get_serial_sequence('leads_lead', 'id'), %s)", [args.leads]
        )
        cursor.execute("VACUUM ANALYZE leads_lead")
        cursor.execute("VACUUM ANALYZE followups_followup")
    return manager, admin


def percentile_ms(samples: list, fraction: float) -> float:
    return sorted(samples)[min(len(samples) - 1, int(len(samples) * fraction))] * 1000


def measure(client: Client, requests: int) -> list:
    client.get("/dashboard/")  # warm-up: templates, translations, connection
    samples = []
    for _ in range(requests):
        with timer(samples):
            assert client.get("/dashboard/").status_code == 200
    return samples


def main() -> None:
    from leads.models import Lead

    started = time.perf_counter()
    if args.reuse and Lead.objects.exists():
        manager, admin = User.objects.get(username="manager"), User.objects.get(username="admin")
        print(f"reusing {Lead.objects.count():,} leads")
    else:
        manager, admin = build()
        print(
            f"built {args.leads:,} leads / {3 * args.leads:,} follow-ups in {time.perf_counter() - started:.1f} s"
        )
    from reporting.models import DashboardRollupState
    from reporting.rollup import dashboard_rollup_refresh

    started = time.perf_counter()
    print(
        f"full rollup rebuild: {dashboard_rollup_refresh(now=timezone.now(), full=True)} "
        f"in {time.perf_counter() - started:.1f} s"
    )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    # Beat ticks: nothing changed (the overdue and ageing snapshots only); 1,000 leads of the last
    # 14 days changed (calls logged, decisions taken); 1,000 leads spread over all 90 days changed.
    ticks = {}
    recent = Lead.objects.filter(received_at__gte=NOW - timedelta(days=14)).aggregate(
        low=Min("pk"), high=Max("pk")
    )
    for label, first, last in (
        ("nothing changed", None, None),
        ("1,000 leads of the last 14 days changed", recent["low"], recent["high"]),
        ("1,000 leads of all 90 days changed", 1, args.leads),
    ):
        samples = []
        for round_ in range(3):
            if first is not None:
                step = (last - first) // 1000
                pks = [first + round_ + step * k for k in range(1000)]
                Lead.objects.filter(pk__in=pks).update(
                    first_contact_at=timezone.now(),
                    first_contact_minutes=42 + round_,
                    decision="accepted",
                )
            with timer(samples):
                report = dashboard_rollup_refresh(now=timezone.now())
        ticks[label] = (samples, report)
    floor = []
    with connection.cursor() as cursor:
        for _ in range(args.requests):
            with timer(floor):
                cursor.execute(
                    "SELECT count(*) FROM leads_lead WHERE team_id = %s AND received_at >= %s",
                    [manager.team_id, NOW - timedelta(days=30)],
                )
    views = []
    for label, user in (
        ("team lead: own team, last 30 days", manager),
        ("admin: whole company, last 30 days", admin),
    ):
        client = Client(HTTP_HOST="127.0.0.1")
        client.force_login(user)
        views.append((label, measure(client, args.requests)))
    assert DashboardRollupState.objects.get().refreshed_at is not None
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"load average (1, 5, 15 min) after the requests: {load} on {os.cpu_count()} cores")
    for label, (samples, report) in ticks.items():
        print(
            f"beat tick, {label}: median {median_ms(samples):.0f} ms, max {max(samples) * 1000:.0f} ms ({report})"
        )
    print(
        f"{'floor: COUNT(*) of the team period leads':42} p50 {median_ms(floor):7.1f} ms  "
        f"p95 {percentile_ms(floor, 0.95):7.1f} ms"
    )
    for label, samples in views:
        verdict = "OK" if percentile_ms(samples, 0.95) < 300 else "OVER TARGET"
        print(
            f"{label:42} p50 {median_ms(samples):7.1f} ms  p95 {percentile_ms(samples, 0.95):7.1f} ms  "
            f"(target p95 < 300 ms) {verdict}"
        )


try:
    main()
finally:
    if not args.keep:
        drop_bench_database(db_name)
