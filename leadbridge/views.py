from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import redirect
from django.views.decorators.cache import never_cache

from .celery import app as celery_app


@login_required
def home(request):
    return redirect(request.user.landing_url_name())


def _database_ok() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not ok"; say which
        return f"error: {exc.__class__.__name__}"
    return "ok"


def _broker_ok() -> str:
    try:
        with celery_app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
            conn.default_channel  # noqa: B018 - opens the channel: a real round trip
    except Exception as exc:
        return f"error: {exc.__class__.__name__}"
    return "ok"


@never_cache
def healthz(request):
    """Liveness for load balancers and compose healthchecks: no login, no session."""
    body = {
        "database": _database_ok(),
        "broker": _broker_ok(),
        "version": settings.LEADBRIDGE_VERSION,
    }
    healthy = body["database"] == "ok" and body["broker"] == "ok"
    return JsonResponse(body, status=200 if healthy else 503)
