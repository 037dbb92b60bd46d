"""Shared set-up for the benchmarks: a throw-away PostgreSQL database, migrated.

Each bench script calls `bench_database()` before importing models. It needs
DATABASE_URL to point at a PostgreSQL server; it creates `<name>_bench` next to
the database named there, so your data is never touched.
"""

import os
import statistics
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def bench_database(*, reuse: bool = False) -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit(
            "The benchmarks run on PostgreSQL: set DATABASE_URL, "
            "e.g. DATABASE_URL=postgres://postgres@127.0.0.1:5432/leadbridge"
        )
    import psycopg

    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/') or 'leadbridge'}_bench"
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not (reuse and exists):  # --reuse: keep the data a previous --keep run built
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = urlunsplit(parts._replace(path=f"/{name}"))
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadbridge.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return name


def drop_bench_database(name: str) -> None:
    from django.db import connections

    connections.close_all()
    import psycopg

    parts = urlsplit(os.environ["DATABASE_URL"])
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def timer(samples: list):
    start = time.perf_counter()
    yield
    samples.append(time.perf_counter() - start)


def median_ms(samples: list) -> float:
    return statistics.median(samples) * 1000


def p95_ms(samples: list) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] * 1000


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """Seconds of CPU between two readings; NaN unless the same processes are in both
    (one that ended or started in between would be lost or counted whole)."""
    if not before or set(before) != set(after):
        return float("nan")
    return sum(after[pid] - before[pid] for pid in before)


def process_command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def cpu_of(pids) -> dict[int, float]:
    """CPU time (user + system) so far, per pid, from /proc; pids not found are left out."""
    ticks = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        seconds[pid] = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return seconds
