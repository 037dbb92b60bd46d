"""API intake benchmark (issue: REST API for integrations).

Starts gunicorn with 2 workers on 127.0.0.1 against a throw-away PostgreSQL
database, then, from this process:
1. the floor: GET /api/v1/users/me/ (token auth, throttle, one row as JSON);
2. POST /api/v1/leads/, one lead per request, from several client threads
   (target >= 200 leads/s), then paced at --rate requests/s (target: p95 < 30 ms);
3. POST /api/v1/leads/bulk/ with 10,000 leads per request (target >= 5,000 leads/s),
   from one client and then from two at once (one per worker), next to the floor
   of COPYing as many bare lead rows into PostgreSQL.
Every request count is bounded; the server is stopped at the end.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadbridge \
        python bench/api_bench.py [--requests N]
"""

import argparse
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

from _setup import ROOT, bench_database, cpu_of, cpu_used, drop_bench_database, process_command

parser = argparse.ArgumentParser(
    description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
)
parser.add_argument("--requests", type=int, default=3000, help="single-lead POSTs (default 3000)")
parser.add_argument("--bulk-requests", type=int, default=5, help="bulk POSTs of --bulk-size leads")
parser.add_argument("--bulk-size", type=int, default=10_000)
parser.add_argument("--threads", type=int, default=4, help="client threads for single POSTs")
parser.add_argument("--reps", type=int, default=12)
parser.add_argument("--rate", type=int, default=100, help="paced single POSTs per second")
parser.add_argument("--paced-seconds", type=int, default=10)
parser.add_argument("--port", type=int, default=0, help="gunicorn's port (default: a free one)")
parser.add_argument("--keep", action="store_true", help="keep the bench database afterwards")
args, _unknown = parser.parse_known_args()  # `make bench` passes every script the same BENCH_ARGS

SINGLE_TARGET = 200
P95_TARGET_MS = 30
BULK_TARGET = 5000

db_name = bench_database()

from django.db import connection, transaction  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import Role, Team, User  # noqa: E402
from campaigns.models import Campaign, InfoMaterial  # noqa: E402
from integrations.services import token_create  # noqa: E402
from leads.intake.writers import CopyWriter  # noqa: E402
from leads.models import Lead  # noqa: E402


def setup() -> tuple[str, int]:
    team = Team.objects.create(name="Bench", region="DE")
    for i in range(args.reps):
        User.objects.create(username=f"rep{i}", role=Role.REP, team=team, daily_capacity=30000)
    marketer = User.objects.create(username="mkt", role=Role.MARKETING)
    campaign = Campaign.objects.create(
        name="Bench fair",
        channel="trade_fair",
        owner=marketer,
        status="active",
        starts_on=timezone.localdate(),
        team=team,
    )
    campaign.materials.add(InfoMaterial.objects.create(title="Katalog", kind="printed"))
    return token_create(user=marketer, name="bench").key, campaign.pk


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(port: int) -> subprocess.Popen:
    env = {
        **os.environ,
        "DEBUG": "false",  # no query log, no debug pages: as in production
        "SECRET_KEY": secrets.token_urlsafe(40),
        "DATABASE_CONN_MAX_AGE": "600",
        "LEADBRIDGE_API_RATE": "1000000/min",
        "LEADBRIDGE_API_BULK_RATE": "100000/min",
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "leadbridge.wsgi",
            "--workers",
            "2",
            "--bind",
            f"127.0.0.1:{port}",
            "--timeout",
            "120",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    for _ in range(100):
        try:
            status, _body = request(port, "GET", "/api/v1/schema/", None, {})
            if status == 200:
                return server
        except OSError:
            pass
        time.sleep(0.2)
    stop_server(server)
    sys.exit("gunicorn did not answer within 20 s")


def stop_server(server: subprocess.Popen) -> None:
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)


def server_cpu(server: subprocess.Popen) -> dict[int, float]:
    """CPU time (user + system) so far of gunicorn's master and workers, per pid, from /proc.

    Printed per request next to the throughput: the client and other work share
    the 2 cores, so requests/s moves with the load; the server's CPU per request
    moves much less.
    """
    pids = [server.pid]
    try:
        children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
        pids += [int(pid) for pid in children]
    except OSError:
        return {}
    return cpu_of(pids)


def database_cpu() -> dict[int, float]:
    """CPU time so far, per pid, of the PostgreSQL backends serving the bench database (the
    server's connections; not this process's own), when PostgreSQL runs on this machine."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
        )
        pids = [pid for (pid,) in cursor.fetchall()]
    return cpu_of(pid for pid in pids if process_command(pid) == "postgres")


def request(port, method, path, body, headers) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def run_clients(port, count, make_request) -> tuple[float, list]:
    """`count` requests from args.threads threads; (seconds, unexpected answers)."""
    counter = iter(range(count))
    lock = threading.Lock()
    errors = []

    def worker():
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            method, path, body, headers, expected = make_request(i)
            status, answer = request(port, method, path, body, headers)
            if status != expected:
                errors.append((status, answer[:200]))

    threads = [threading.Thread(target=worker) for _ in range(args.threads)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, errors


def run_paced(port, rate: int, count: int, make_request) -> tuple[list[float], list]:
    """`count` requests started `rate` per second (each at its slot, from a pool of
    threads so a slow answer does not hold the next one back); (latencies in ms, errors)."""
    counter = iter(range(count))
    lock = threading.Lock()
    latencies, errors = [], []
    started = time.perf_counter()

    def worker():
        while True:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            delay = started + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)  # the client's pacing, not a test's wait
            method, path, body, headers, expected = make_request(i)
            sent = time.perf_counter()
            status, answer = request(port, method, path, body, headers)
            latencies.append((time.perf_counter() - sent) * 1000)
            if status != expected:
                errors.append((status, answer[:200]))

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors


def lead(campaign_id: int, tag: str, i: int) -> dict:
    return {
        "campaign": campaign_id,
        "company": f"Firma {tag}{i}",
        "contact_name": "Kim Kunde",
        "email": f"k{tag}{i}@example.com",
        "phone": f"+49 89 {1000000 + i}",
        "requests_material": i % 2 == 0,
        "wants_call": True,
        "received_at": timezone.localtime().isoformat(),
        "external_id": f"{tag}-{i}",
    }


def bulk_round(port, auth, campaign_id, tag: str, *, streams: int) -> float:
    """args.bulk_requests bodies of args.bulk_size leads per stream, streams at once; leads/s."""
    bodies = [
        json.dumps({"leads": [lead(campaign_id, f"{tag}-{r}-", i) for i in range(args.bulk_size)]})
        for r in range(args.bulk_requests * streams)
    ]
    failures = []

    def send(mine):
        for body in mine:
            status, answer = request(port, "POST", "/api/v1/leads/bulk/", body, auth)
            if status != 200 or json.loads(answer)["created"] != args.bulk_size:
                failures.append((status, answer[:300]))

    threads = [threading.Thread(target=send, args=(bodies[i::streams],)) for i in range(streams)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if failures:
        print(f"unexpected answers to bulk POSTs: {len(failures)}, e.g. {failures[0]}")
    return len(bodies) * args.bulk_size / seconds


def copy_floor(rows: int) -> float:
    """Seconds to COPY `rows` bare lead rows through the intake's COPY writer (rolled back)."""
    now = timezone.now()
    leads = [
        Lead(
            channel="trade_fair",
            source="api",
            external_id=f"f-{i}",
            company=f"Firma {i}",
            contact_name="Kim",
            email=f"k{i}@example.com",
            received_at=now,
            lawful_basis="contract",
            lawful_basis_at=now,
            dedup_key=f"e:k{i}@example.com",
        )
        for i in range(rows)
    ]
    started = time.perf_counter()
    with transaction.atomic():
        CopyWriter().insert(leads)
        elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    return elapsed


def main() -> None:
    load_before = f"{os.getloadavg()[0]:.2f}"
    key, campaign_id = setup()
    floor_copy = args.bulk_size / copy_floor(args.bulk_size)
    connection.close()
    port = args.port or free_port()
    server = start_server(port)
    auth = {"Authorization": f"Token {key}", "Content-Type": "application/json"}
    try:
        # warm both workers (imports, connections, calendars)
        run_clients(
            port,
            40,
            lambda i: ("POST", "/api/v1/leads/", json.dumps(lead(campaign_id, "w", i)), auth, 201),
        )

        cpu = server_cpu(server)
        seconds, errors = run_clients(
            port, args.requests, lambda i: ("GET", "/api/v1/users/me/", None, auth, 200)
        )
        floor_rate = args.requests / seconds
        floor_cpu = cpu_used(cpu, server_cpu(server)) / args.requests * 1000

        cpu, db_cpu = server_cpu(server), database_cpu()
        seconds, errors = run_clients(
            port,
            args.requests,
            lambda i: ("POST", "/api/v1/leads/", json.dumps(lead(campaign_id, "s", i)), auth, 201),
        )
        single_rate = args.requests / seconds
        single_cpu = cpu_used(cpu, server_cpu(server)) / args.requests * 1000
        single_db_cpu = cpu_used(db_cpu, database_cpu()) / args.requests * 1000
        if errors:
            print(f"unexpected answers to single POSTs: {len(errors)}, e.g. {errors[0]}")

        paced = args.rate * args.paced_seconds
        latencies, paced_errors = run_paced(
            port,
            args.rate,
            paced,
            lambda i: ("POST", "/api/v1/leads/", json.dumps(lead(campaign_id, "p", i)), auth, 201),
        )
        latencies.sort()
        p50, p95 = latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.95)]
        if paced_errors:
            print(f"unexpected answers to paced POSTs: {len(paced_errors)}, e.g. {paced_errors[0]}")

        cpu, db_cpu = server_cpu(server), database_cpu()
        bulk_rate = bulk_round(port, auth, campaign_id, "b1", streams=1)
        bulk_leads = args.bulk_requests * args.bulk_size
        bulk_cpu = cpu_used(cpu, server_cpu(server)) / bulk_leads * 1000
        bulk_db_cpu = cpu_used(db_cpu, database_cpu()) / bulk_leads * 1000
        bulk_rate_2 = bulk_round(port, auth, campaign_id, "b2", streams=2)
    finally:
        stop_server(server)

    stored = Lead.objects.filter(external_id__startswith="s-").count()
    stored_bulk = Lead.objects.filter(external_id__startswith="b").count()
    ok = {True: "OK", False: "UNDER TARGET"}
    print(f"machine: {os.cpu_count()} cores; gunicorn: 2 sync workers; client: same machine")
    print(f"load average before / after: {load_before} / {os.getloadavg()[0]:.2f}")
    print(
        f"floor  GET /api/v1/users/me/ (auth, throttle, 1 row)  {floor_rate:8.0f} requests/s"
        f"  server CPU {floor_cpu:.2f} ms/request"
    )
    print(
        f"single POST /api/v1/leads/, {args.threads} client threads   {single_rate:8.0f} leads/s"
        f"  target >= {SINGLE_TARGET}: {ok[single_rate >= SINGLE_TARGET]} (stored {stored})"
    )
    print(
        f"       single/floor {single_rate / floor_rate:.2f}; server CPU {single_cpu:.2f} ms/lead"
        f" ({single_cpu / floor_cpu:.1f}x the floor request); database CPU {single_db_cpu:.2f} ms/lead"
    )
    print(
        f"paced  POST /api/v1/leads/ at {args.rate} requests/s for {args.paced_seconds} s"
        f"   p50 {p50:.1f} ms, p95 {p95:.1f} ms  target p95 < {P95_TARGET_MS} ms:"
        f" {ok[p95 < P95_TARGET_MS]}"
    )
    print(
        f"bulk   {args.bulk_size:,} leads per POST, 1 stream    {bulk_rate:8.0f} leads/s"
        f"  target >= {BULK_TARGET}: {ok[bulk_rate >= BULK_TARGET]}"
        f"  server CPU {bulk_cpu:.3f} ms/lead, database CPU {bulk_db_cpu:.3f} ms/lead"
    )
    print(
        f"bulk   {args.bulk_size:,} leads per POST, 2 streams   {bulk_rate_2:8.0f} leads/s"
        f"  target >= {BULK_TARGET}: {ok[bulk_rate_2 >= BULK_TARGET]} (stored {stored_bulk} in all)"
    )
    print(
        f"floor  COPY of bare lead rows (CopyWriter; no follow-ups, no HTTP) {floor_copy:8.0f} rows/s"
    )
    if not args.keep:
        drop_bench_database(db_name)


if __name__ == "__main__":
    main()
    print(f"database: {urlsplit(os.environ['DATABASE_URL']).path.lstrip('/')}")
