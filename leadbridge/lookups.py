"""Process-local copies of small tables every intake request reads, invalidated everywhere.

Each lead received over the API used to read its token, campaign, the
campaign's first material, the SLA policy of its channel and the webhook
subscriptions from the database: five statements per lead for rows that change
a few times a day at most. `intake` keeps what it read in process memory, tagged
with a version held in a cache every process shares (Redis:
`settings.LEADBRIDGE_LOOKUP_CACHE`). The version is read once per request (one
Redis GET) and on every call outside a request (tasks, commands).

Any write to a table these copies come from sets a new version — a random one, so
a cleared or evicted cache never brings an old version back — both at once and
again when the writing transaction commits:

* the first makes every process forget its copies straight away (a reader in the
  writer's own transaction, or a test inside one, sees the change);
* the second covers a reader that read the new version but the database before
  the writer committed: it stored the old rows under a version nobody asks for
  once the commit has set the next.

Without a shared cache but on PostgreSQL (no REDIS_URL), the database tells the
processes instead: each LISTENs on its own connection, and a write sends NOTIFY
in the writing transaction — PostgreSQL delivers it when that transaction
commits, and never if it rolls back. A process looks for delivered notifications
(a non-blocking read of its connection's socket, no round trip) where it would
read the version; one that came, or a new connection (whatever was sent before
it LISTENed is unknown), makes it forget its copies. Inside a transaction block
a first LISTEN would only start at commit, so there every call reads the
database. (A pooler in transaction mode, e.g. PgBouncer, does not keep LISTEN:
set REDIS_URL there.)

While Redis is unreachable every call reads the database and nothing is kept
(leadbridge.outages); a write that could not set its version sets one when the
writing process next reaches Redis.

With neither (the embedded default: SQLite, no Redis) processes could not tell
each other, so every call reads the database, as before.
What invalidates: saves and deletes (signals) and QuerySet.update / bulk_create of
the models registered with invalidate_on() — see the apps' ready().
"""

from __future__ import annotations

import uuid
import weakref
from collections.abc import Callable, Hashable
from typing import Any

from django.conf import settings
from django.core.cache import caches
from django.core.signals import request_finished, request_started
from django.db import DatabaseError, connection, models, transaction
from django.db.models.signals import m2m_changed, post_delete, post_save

from . import outages
from .outages import CACHE_ERRORS


class Lookup:
    def __init__(self, name: str):
        self._cache_key = f"lookup-version:{name}"
        self._version: str | None = None
        self._values: dict[Hashable, Any] = {}
        # Inside a request the version is read once, at the first get().
        self._in_request = False
        self._checked = False
        # A new version this process could not set (Redis down): set once it is back.
        self._lost_bump = False

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The value for `key`, computed (read from the database) at most once per version."""
        shared = self._shared()
        if not (self._in_request and self._checked and self._version is not None):
            if shared is not None:
                try:
                    version = self._shared_version(shared)
                except CACHE_ERRORS as exc:
                    # Redis down: read the database, keep nothing (nobody could
                    # tell this process of a change meanwhile).
                    outages.warn(
                        "lookups", "Lookups read the database: cache unreachable (%s)", exc
                    )
                    self.clear_local()
                    return compute()
            else:
                version = notifications.generation()
                if version is None:
                    return compute()
            if version != self._version:
                self._values, self._version = {}, version
            self._checked = True
        if key in self._values:
            return self._values[key]
        version = self._version
        value = compute()
        # Not kept: nothing found (unknown keys must not fill memory), or compute()
        # invalidated on the way (get_or_create).
        if value is not None and self._version == version:
            self._values[key] = value
        return value

    def _shared_version(self, shared) -> str:
        if self._lost_bump:
            # A write during an outage could not tell the others: tell them now.
            shared.set(self._cache_key, uuid.uuid4().hex, None)
            self._lost_bump = False
        version = shared.get(self._cache_key)
        if version is None:
            shared.add(self._cache_key, uuid.uuid4().hex, None)
            version = shared.get(self._cache_key)
        return version

    def invalidate(self) -> None:
        """Every process reads afresh: now, and again once the current transaction commits.

        (With LISTEN/NOTIFY one NOTIFY does both: PostgreSQL delivers it at the commit.)
        """
        self._bump(notify=True)
        transaction.on_commit(self._bump, robust=True)

    def clear_local(self) -> None:
        self._values, self._version, self._checked = {}, None, False

    def request_started(self, **kwargs) -> None:
        self._in_request, self._checked = True, False

    def request_finished(self, **kwargs) -> None:
        self._in_request, self._checked = False, False

    def _bump(self, notify: bool = False) -> None:
        self.clear_local()
        shared = self._shared()
        if shared is not None:
            try:
                shared.set(self._cache_key, uuid.uuid4().hex, None)
            except CACHE_ERRORS as exc:
                outages.warn("lookups", "Lookups read the database: cache unreachable (%s)", exc)
                self._lost_bump = True
        elif notify:
            # PostgreSQL delivers it when the writing transaction commits.
            notifications.notify()

    @staticmethod
    def _shared():
        alias = settings.LEADBRIDGE_LOOKUP_CACHE
        return caches[alias] if alias else None


class Notifications:
    """PostgreSQL LISTEN/NOTIFY on the default connection: the version without a shared cache.

    generation() counts what this process has heard: it goes up with each
    notification delivered and with each new connection (notifications sent
    while nobody here listened are lost). Lookup keeps its copies while it stays
    the same. notify() is sent in the caller's transaction, so PostgreSQL
    delivers it to every listener (this process too) when that commits.
    """

    channel = "leadbridge_lookups"

    def __init__(self):
        # The psycopg connections that LISTEN (one per thread, if threaded; a
        # connection Django replaces is a new one, and listens anew).
        self._listening: weakref.WeakSet = weakref.WeakSet()
        self._generation = 0

    @staticmethod
    def _usable() -> bool:
        return settings.LEADBRIDGE_LOOKUP_CACHE is None and connection.vendor == "postgresql"

    def generation(self) -> int | None:
        """Where this process stands; None if it cannot listen (every call reads afresh)."""
        if not self._usable():
            return None
        import psycopg  # PostgreSQL's driver: present whenever the vendor is

        try:
            connection.ensure_connection()
            raw = connection.connection
            if raw not in self._listening:
                if connection.in_atomic_block:
                    return None  # LISTEN would start only at commit
                with connection.cursor() as cursor:
                    cursor.execute(f"LISTEN {self.channel}")
                # Notifications that arrive with the results of other statements are
                # taken by psycopg and handed here; the rest wait in the socket.
                raw.add_notify_handler(self._heard)
                self._listening.add(raw)
                self._generation += 1
            pgconn = raw.pgconn
            pgconn.consume_input()  # non-blocking: what has arrived, no round trip
            while pgconn.notifies() is not None:
                self._generation += 1
        except (DatabaseError, psycopg.Error):
            # A broken connection: Django replaces it, and the new one listens.
            return None
        return self._generation

    def _heard(self, notify) -> None:
        if notify.channel == self.channel:
            self._generation += 1

    def notify(self) -> None:
        if self._usable():
            with connection.cursor() as cursor:
                cursor.execute(f"NOTIFY {self.channel}")


notifications = Notifications()

# Tokens, campaigns and their first material, SLA policies, webhook subscriptions.
intake = Lookup("intake")
request_started.connect(intake.request_started, weak=False, dispatch_uid="lookups-start")
request_finished.connect(intake.request_finished, weak=False, dispatch_uid="lookups-finish")


class InvalidatingQuerySet(models.QuerySet):
    """QuerySet.update and bulk_create send no signal: they invalidate themselves."""

    def update(self, **kwargs):
        done = super().update(**kwargs)
        intake.invalidate()
        return done

    def bulk_create(self, *args, **kwargs):
        created = super().bulk_create(*args, **kwargs)
        intake.invalidate()
        return created


def _invalidate(sender, **kwargs) -> None:
    intake.invalidate()


def invalidate_on(*senders: type[models.Model]) -> None:
    """Saves, deletes and many-to-many changes of these models invalidate the copies.

    Give models whose rows are changed with QuerySet.update an InvalidatingQuerySet.
    """
    for sender in senders:
        uid = f"lookups:{sender._meta.label}"
        post_save.connect(_invalidate, sender=sender, weak=False, dispatch_uid=uid)
        post_delete.connect(_invalidate, sender=sender, weak=False, dispatch_uid=uid)
        m2m_changed.connect(_invalidate, sender=sender, weak=False, dispatch_uid=uid)
