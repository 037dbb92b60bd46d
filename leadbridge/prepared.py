"""Prepared statements on PostgreSQL for the few statements every received lead runs.

Django sends each statement as text with its values written in (psycopg's
client-side binding) and leaves prepared statements off, so PostgreSQL parses
and plans every one of them again: for a single lead over the API that was
about 0.5 ms of the database's CPU, a sixth of what the lead cost it. The
statements here are sent with PostgreSQL's own placeholders ($1, $2, …) and
prepared once per connection (psycopg keeps up to 100 per connection and
re-prepares after a reconnect). Through Django's cursor wrapper, so errors come
as Django's exceptions and DEBUG's query log still sees them.

Behind a connection pooler in transaction mode this needs PgBouncer 1.22 or
newer with max_prepared_statements set (README, DATABASE_URL): psycopg sends
DEALLOCATE ALL after a rollback, which PgBouncer follows from 1.22 on.
"""

from __future__ import annotations

import functools

import psycopg
from django.db import connection
from django.db.backends.postgresql.base import CursorMixin
from psycopg import errors
from psycopg.pq import TransactionStatus

# Django opens connections with prepare_threshold None, with which psycopg refuses
# prepare=True too. While one of these statements runs the threshold is a count no
# statement reaches, which lets prepare=True through; in between it is None again, so
# Django's own statements (bound on the client side, never prepared) are not even
# counted, and a savepoint's rollback does not drop the prepared ones.
_NEVER_BY_COUNT = 2**62


class _PreparedCursor(CursorMixin, psycopg.RawCursor):
    """psycopg's cursor for $n placeholders, preparing every statement it runs."""

    def execute(self, query, params=None, *, prepare=True, binary=None):
        conn = self.connection
        conn.prepare_threshold = _NEVER_BY_COUNT
        try:
            return super().execute(query, params, prepare=prepare, binary=binary)
        except (errors.FeatureNotSupported, errors.InvalidSqlStatementName):
            # The prepared statement no longer fits the tables ("cached plan must not
            # change result type" after a column changed) or is gone. In a transaction
            # its rollback makes psycopg forget every prepared statement; outside one
            # nothing would, and each call would fail again: forget them here, once.
            if conn.info.transaction_status != TransactionStatus.IDLE:
                raise
            super().execute("DEALLOCATE ALL", prepare=False)  # psycopg forgets them too
            return super().execute(query, params, prepare=prepare, binary=binary)
        finally:
            conn.prepare_threshold = None

    def _send_query_prepared(self, name, pgq, *, binary=None):
        # psycopg notes the statement for unprepared runs only; Django's DEBUG query
        # log (last_executed_query) reads it from there.
        self._query = pgq
        return super()._send_query_prepared(name, pgq, binary=binary)


def prepared_cursor():
    """A cursor (use it in `with`) for statements written with $n placeholders; PostgreSQL only."""
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        raw = _PreparedCursor(connection.connection)
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
