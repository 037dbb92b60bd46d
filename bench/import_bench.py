"""Lead import benchmark (issue: marketing workspace).

On PostgreSQL: a 100k-row trade-fair CSV (cp1252, semicolons, German dates,
0.5 % bad rows) imported into a campaign whose team has 12 reps, through the
same `import_start` + `import_run` the upload view and the Celery task call.
Target: under 30 s. Printed next to two floors measured in the same run, both
writing the rows the import must write at the least (the leads, their two
follow-ups each and their four timeline rows) without any reading, checking
or routing: Django's bulk_create, and COPY as the import itself writes.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadbridge python bench/import_bench.py
        [--rows N] [--material printed|digital]
"""

import argparse
import random
import time
from datetime import timedelta

from _setup import bench_database, drop_bench_database

parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
)
parser.add_argument("--rows", type=int, default=100_000)
parser.add_argument("--bad-share", type=float, default=0.005)
parser.add_argument(
    "--material",
    choices=["printed", "digital"],
    default="printed",
    help="printed: a dispatch follow-up per lead (a fair); "
    "digital: emailed at intake (consent given)",
)
parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
args = parser.parse_args()

db_name = bench_database()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import Role, Team, User  # noqa: E402
from campaigns.models import Campaign, InfoMaterial, MaterialEmail  # noqa: E402
from followups.models import FollowUp  # noqa: E402
from leads import imports, tasks  # noqa: E402
from leads.intake.writers import CopyWriter, OrmWriter  # noqa: E402
from leads.models import ImportJob, Lead, LeadEvent  # noqa: E402

settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
tasks.import_run_task.delay = lambda *a, **k: None  # the bench calls import_run itself

NOW = timezone.now()
random.seed(7)


def build_csv(n: int) -> bytes:
    first = ["Jürgen", "Anna", "Björn", "Sören", "Käthe", "Max", "Eva", "Lars", "Özlem", "Jörg"]
    last = [
        "Müller",
        "Schmidt",
        "Schäfer",
        "Weiß",
        "Groß",
        "Köhler",
        "Bauer",
        "Förster",
        "Hoffmann",
        "Krüger",
    ]
    cities = [
        ("80331", "München"),
        ("10115", "Berlin"),
        ("20095", "Hamburg"),
        ("50667", "Köln"),
        ("01067", "Dresden"),
    ]
    lines = [
        "Scan-ID;Firma;Vorname;Nachname;E-Mail;Telefon;Straße;PLZ;Ort;Land;Datum;Material;Einwilligung"
    ]
    bad_every = int(1 / args.bad_share) if args.bad_share else 0
    fair_start = timezone.localtime(NOW - timedelta(days=10)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    for i in range(n):
        postcode, city = cities[i % len(cities)]
        email = f"besucher{i}@firma{i % 5000}.example"
        date = (fair_start + timedelta(days=i % 3, minutes=(i * 7) % 480)).strftime(
            "%d.%m.%Y %H:%M"
        )
        if bad_every and i % bad_every == 0:
            email = f"kaputt{i}(at)firma.example" if i % 2 else email
            date = "31.02.2026" if i % 2 == 0 else date
        lines.append(
            f"S{i:07d};Firma {i % 5000} GmbH;{random.choice(first)};{random.choice(last)};{email};"
            f"089 {1000000 + i};Hauptstraße {i % 200 + 1};{postcode};{city};DE;{date};ja;ja"
        )
    return ("\r\n".join(lines) + "\r\n").encode("cp1252")


def setup() -> Campaign:
    team = Team.objects.create(name="Bench", region="DE-BY")
    for i in range(12):
        User.objects.create(
            username=f"rep{i}", role=Role.REP, team=team, email=f"rep{i}@example.com"
        )
    marketer = User.objects.create(username="mike", role=Role.MARKETING)
    material = InfoMaterial.objects.create(
        title="Katalog", kind=args.material, url="https://example.com/k.pdf"
    )
    campaign = Campaign.objects.create(
        name="Hannover Messe",
        channel="trade_fair",
        owner=marketer,
        status="active",
        starts_on=timezone.localdate(NOW) - timedelta(days=10),
        team=team,
        expected_responses=args.rows,
        signed_off_at=NOW,
        signed_off_by=marketer,
    )
    campaign.materials.set([material])
    return campaign


def remove_floor_rows() -> None:
    """Delete a floor's rows and vacuum, so the next measure starts on clean tables
    (not behind 700k dead rows and an autovacuum catching up)."""
    Lead.objects.filter(contact_name__startswith="Floor ").delete()
    with connection.cursor() as cursor:
        for model in (Lead, FollowUp, LeadEvent):
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")


def floor(n: int, writer) -> float:
    """The write alone, through one of the intake's writers (leads/intake/writers.py):
    n leads, 2n follow-ups and 4n timeline rows, then removed."""
    team = Team.objects.get(name="Bench")
    rep = User.objects.filter(team=team).first()
    start = time.perf_counter()
    with transaction.atomic():
        leads = [
            Lead(
                channel="trade_fair",
                source="import",
                contact_name=f"Floor {i}",
                email=f"f{i}@example.com",
                received_at=NOW,
                owner=rep,
                team=team,
                dedup_key=f"e:f{i}@example.com",
            )
            for i in range(n)
        ]
        writer.insert(leads)
        followups = [
            FollowUp(
                lead=lead,
                kind=kind,
                assignee=rep,
                starts_at=NOW,
                warn_at=NOW,
                due_at=NOW,
                overdue_at=NOW,
                escalate_at=NOW,
            )
            for lead in leads
            for kind in ("material", "decision")
        ]
        writer.insert(followups)
        writer.insert(
            [
                LeadEvent(
                    lead=f.lead, followup=f, kind="followup_created", at=NOW, data={"kind": f.kind}
                )
                for f in followups
            ]
            + [
                LeadEvent(lead=lead, kind=kind, at=NOW, data={})
                for lead in leads
                for kind in ("received", "assigned")
            ]
        )
    elapsed = time.perf_counter() - start
    remove_floor_rows()
    return elapsed


campaign = setup()
data = build_csv(args.rows)
print(
    f"CSV: {args.rows:,} rows, {len(data) / 1024 / 1024:.1f} MB (cp1252, ';'), "
    f"material {args.material}"
)

floor_s = floor(args.rows, OrmWriter())
copy_s = floor(args.rows, CopyWriter())

start = time.perf_counter()
job = imports.import_start(campaign=campaign, name="messe-scans.csv", data=data, by=None, now=NOW)
job = imports.import_configure(
    job=job,
    mapping=job.mapping,
    received_on=None,
    on_duplicate="skip",
    consent_all=False,
    material_all=False,
    lawful_basis="legitimate_interest",  # fair scans
)
preview_s = time.perf_counter() - start
run_start = time.perf_counter()
job = imports.import_run(job_id=job.pk)
run_s = time.perf_counter() - run_start
total_s = preview_s + run_s

assert job.status == ImportJob.Status.DONE, job.message
assert job.created_count + job.duplicate_count + job.failed == job.total == args.rows
assert Lead.objects.filter(campaign=campaign).count() == job.created_count
followups = FollowUp.objects.filter(lead__campaign=campaign).count()
events = LeadEvent.objects.filter(lead__campaign=campaign).count()
print(f"mapping guessed: {sorted(job.mapping)}")
print(
    f"created {job.created_count:,} leads, {followups:,} follow-ups, {events:,} timeline rows; "
    f"{job.failed:,} rows reported as errors, {job.duplicate_count:,} known"
)
if args.material == "digital":
    emailed = MaterialEmail.objects.filter(lead__campaign=campaign).count()
    print(f"digital material emailed at intake: {emailed:,} leads (outbox rows for the worker)")
print(f"upload + preview (read, count, store): {preview_s:6.1f} s")
print(f"import_run (validate, route, write):  {run_s:6.1f} s")
print(f"TOTAL                                  {total_s:6.1f} s   (target < 30 s)")
print(
    f"floor: bare bulk_create of the same leads, follow-ups and timeline rows: {floor_s:.1f} s "
    f"-> import = {total_s / floor_s:.1f}x floor"
)
print(
    f"floor: COPY of the same rows alone (no reading, checking, routing): {copy_s:.1f} s "
    f"-> import = {total_s / copy_s:.1f}x floor"
)
print(f"PostgreSQL {connection.cursor().connection.info.server_version}")

if not args.keep:
    drop_bench_database(db_name)
