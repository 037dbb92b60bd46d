"""/healthz: no login, JSON, 200 when database and broker answer, 503 naming the part that does not."""

import pytest
from django.db import OperationalError, connection

from leadbridge.celery import app as celery_app


@pytest.mark.django_db
def test_healthz_answers_200_with_both_parts_ok_and_needs_no_login(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok", "version": "0.1.0"}


@pytest.mark.django_db
def test_healthz_answers_503_naming_the_broker_when_it_is_unreachable(client, monkeypatch):
    # A real connection attempt to a port where nothing listens.
    monkeypatch.setitem(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")
    monkeypatch.setitem(celery_app.conf, "broker_transport_options", {})
    celery_app.pool.force_close_all()
    try:
        response = client.get("/healthz")
    finally:
        celery_app.pool.force_close_all()  # the next test connects to the real broker again
    assert response.status_code == 503
    body = response.json()
    assert body["database"] == "ok" and body["broker"].startswith("error")


@pytest.mark.django_db
def test_healthz_answers_503_naming_the_database_when_it_fails(client, monkeypatch):
    def broken_cursor(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", broken_cursor)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["database"] == "error: OperationalError"
