"""Requests per token (or per user, or per address before login), in fixed windows.

A counter per (who, window) with cache.add + cache.incr: O(1) per request, and
atomic on Redis, so the limit holds across gunicorn workers. DRF's own
SimpleRateThrottle keeps a list of every request time, which costs more the
higher the rate. With Redis unreachable the throttle lets requests through
(and says so in the log, leadbridge.outages).
"""

import time

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.redis import RedisCache
from rest_framework.throttling import BaseThrottle

from leadbridge import outages
from leadbridge.client import client_ip
from leadbridge.outages import CACHE_ERRORS

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
RATE_LIMIT_KEY = "leadbridge.rate_limit"


class RateLimitHeaders:
    """RateLimit-Limit, -Remaining and -Reset (seconds) on every throttled API answer.

    The names of the IETF httpapi draft's first versions, which most clients read;
    absent when the throttle could not count (cache down) or the view has no rate.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        counted = request.META.get(RATE_LIMIT_KEY)
        if counted is not None:
            limit, remaining, reset = counted
            response["RateLimit-Limit"] = str(limit)
            response["RateLimit-Remaining"] = str(remaining)
            response["RateLimit-Reset"] = str(reset)
        return response


def parse_rate(rate: str) -> tuple[int, int]:
    """'600/min' → (600, 60)."""
    count, _sep, period = rate.partition("/")
    return int(count), _UNITS[period.strip()[0]]


def _hit(cache, key: str, ttl: int) -> int:
    """Count one request in the window; the count so far."""
    if isinstance(cache, RedisCache):
        # One round trip (INCR + EXPIRE in a pipeline) instead of Django's add/incr.
        client = cache._cache.get_client(write=True)
        full_key = cache.make_and_validate_key(key)
        pipeline = client.pipeline()
        pipeline.incr(full_key)
        pipeline.expire(full_key, ttl)
        count, _ok = pipeline.execute()
        return count
    if cache.add(key, 1, ttl):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, ttl)
        return 1


class TokenRateThrottle(BaseThrottle):
    """Scope from the view's `throttle_scope` (default "token"); rates in REST_FRAMEWORK."""

    def allow_request(self, request, view):
        scope = getattr(view, "throttle_scope", None) or "token"
        rates = settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {})
        rate = rates.get(scope)
        if not rate:
            return True
        limit, period = parse_rate(rate)
        if request.auth is not None:  # a token (integrations.authentication): per token
            who = f"t{request.auth.pk}"
        elif request.user and request.user.is_authenticated:
            who = f"u{request.user.pk}"
        else:
            who = f"a{self.get_ident(request)}"
        now = time.time()
        window = int(now // period)
        key = f"throttle:{scope}:{who}:{window}"
        try:
            count = _hit(caches[settings.LEADBRIDGE_THROTTLE_CACHE], key, period + 1)
        except CACHE_ERRORS as exc:
            # Open, not shut: intake needs Redis for nothing but this count.
            outages.warn("throttle", "API throttle off: cache unreachable (%s)", exc)
            return True
        reset = (window + 1) * period - now
        # Read by RateLimitHeaders (a middleware: DRF has no hook for response headers);
        # META is the WSGI environ, shared by DRF's request and Django's.
        request.META[RATE_LIMIT_KEY] = (limit, max(limit - count, 0), max(1, round(reset)))
        if count <= limit:
            return True
        self._wait = reset
        return False

    def get_ident(self, request):
        # DRF's get_ident trusts X-Forwarded-For unless NUM_PROXIES is set: a client
        # rotating the header would get a fresh allowance of password guesses each time.
        return client_ip(request)

    def wait(self):
        return max(1, round(getattr(self, "_wait", 1)))
