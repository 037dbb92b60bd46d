"""What LeadBridge does while PostgreSQL or Redis is unreachable.

Redis holds nothing essential (leads, follow-ups, emails and webhooks live in
PostgreSQL): the callers that read it through a cache (leadbridge.lookups, the
API and web-form throttles) catch CACHE_ERRORS, carry on without it and say so
with warn(), at most once a minute per subject so an outage does not flood the
logs. Whatever else escapes a view — the database gone, the broker gone while
enqueueing — OutageMiddleware answers with 503 and Retry-After: an RFC 9457 problem
under /api/, a translated page in the browser.
"""

from __future__ import annotations

import logging
import threading
import time

from django.db import InterfaceError, OperationalError
from django.http import HttpResponse
from django.template.loader import render_to_string
from django.utils.cache import add_never_cache_headers
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

log = logging.getLogger(__name__)

# A cache that cannot be reached (Django's RedisCache raises redis-py's errors).
CACHE_ERRORS = (RedisConnectionError, RedisTimeoutError)
# Errors that may mean "a service is down", not "a bug": 503, try again later.
OUTAGE_ERRORS = (OperationalError, InterfaceError, BrokerError, *CACHE_ERRORS)
# PostgreSQL's SQLSTATEs for a connection that failed or a server shutting down
# (class 08, 57P01-57P03). A deadlock, a timeout or a missing table is an
# OperationalError too, but a bug or a load problem: that stays a 500 with its traceback.
_CONNECTION_STATES = ("08", "57P01", "57P02", "57P03")


def is_outage(exception: BaseException) -> bool:
    """A service that cannot be reached, as opposed to an error of ours."""
    if not isinstance(exception, OUTAGE_ERRORS):
        return False
    if not isinstance(exception, OperationalError):
        return True  # InterfaceError (connection gone), broker and Redis connection errors
    cause = exception.__cause__
    state = getattr(cause, "sqlstate", None)
    if state is not None:
        return state.startswith(_CONNECTION_STATES)
    # No SQLSTATE: psycopg's "connection failed", or SQLite's file/lock errors.
    text = str(exception).lower()
    return "connection" in text or "unable to open" in text or "database is locked" in text


RETRY_AFTER = 30  # seconds; a restart of PostgreSQL or Redis takes about that

_WARN_EVERY = 60.0
_last_warned: dict[str, float] = {}
_warn_lock = threading.Lock()


def warn(subject: str, message: str, *args) -> None:
    """Log a WARNING for `subject`, at most once every minute per process."""
    now = time.monotonic()
    with _warn_lock:
        last = _last_warned.get(subject)
        if last is not None and now - last < _WARN_EVERY:
            return
        _last_warned[subject] = now
    log.warning(message, *args)


class OutageMiddleware:
    """503 + Retry-After for OUTAGE_ERRORS that escape a view (DRF re-raises them)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not is_outage(exception):
            return None
        warn(
            f"503:{exception.__class__.__name__}",
            "Answering 503: %s: %s",
            exception.__class__.__name__,
            exception,
        )
        if request.path.startswith("/api/"):
            from leadbridge.api.errors import problem_response

            response = problem_response(request, status_code=503, code="service_unavailable")
        else:
            # No request context: its processors would read the database that is down.
            response = HttpResponse(
                render_to_string("503.html", {"retry_after": RETRY_AFTER}), status=503
            )
        response["Retry-After"] = str(RETRY_AFTER)
        # Never kept by a cache: the page is about this moment only.
        add_never_cache_headers(response)
        return response
