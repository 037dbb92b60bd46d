"""Prepared statements on PostgreSQL for the few statements every received lead runs.

Django sends each statement as text with its values written in (psycopg's
client-side binding) and leaves prepared statements off, so PostgreSQL parses
and plans every one of them again: for a single lead over the API that was
about 0.5 ms of the database's CPU, a sixth of what the lead cost it. The
statements here are sent with PostgreSQL's own placeholders ($1, $2, …) and
prepared once per connection (psycopg keeps up to 100 per connection and
re-prepares after a reconnect). Through Django's cursor wrapper, so errors come
as Django's exceptions and DEBUG's query log still sees them.

Behind a connection pooler in transaction mode this needs PgBouncer 1.21 or
newer with max_prepared_statements set (README, DATABASE_URL).
"""

from __future__ import annotations

import functools

import psycopg
from django.db import connection
from django.db.backends.postgresql.base import CursorMixin

_NEVER_BY_COUNT = 2**62


class _PreparedCursor(CursorMixin, psycopg.RawCursor):
    """psycopg's cursor for $n placeholders, preparing every statement it runs."""

    def execute(self, query, params=None, *, prepare=True, binary=None):
        return super().execute(query, params, prepare=prepare, binary=binary)

    def _send_query_prepared(self, name, pgq, *, binary=None):
        # psycopg notes the statement for unprepared runs only; Django's DEBUG query
        # log (last_executed_query) reads it from there.
        self._query = pgq
        return super()._send_query_prepared(name, pgq, binary=binary)


def prepared_cursor():
    """A cursor (use it in `with`) for statements written with $n placeholders; PostgreSQL only."""
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    raw_connection = connection.connection
    if raw_connection.prepare_threshold is None:
        # Django sets None, which refuses prepare=True too. A count no statement
        # reaches lets prepare=True through and prepares nothing else: Django's own
        # cursors bind on the client side, and psycopg never prepares for those.
        raw_connection.prepare_threshold = _NEVER_BY_COUNT
    with connection.wrap_database_errors:
        raw = _PreparedCursor(raw_connection)
    wrap = connection.make_debug_cursor if connection.queries_logged else connection.make_cursor
    return wrap(raw)


@functools.cache
def numbered(sql: str) -> str:
    """`sql` with its %s placeholders as $1, $2, …; it must hold no other %."""
    parts = sql.split("%s")
    out = [parts[0]]
    for number, part in enumerate(parts[1:], start=1):
        out.append(f"${number}")
        out.append(part)
    return "".join(out)
