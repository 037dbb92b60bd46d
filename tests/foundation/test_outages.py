"""Redis or PostgreSQL unreachable: intake goes on without Redis; what cannot answers 503.

Outages are real: a redis-server of the test's own, killed mid-test, and the
database connection pointed at a port where nothing listens. (Never the shared
servers: other test runs use them.)
"""

import logging
import shutil
import socket
import subprocess
import time

import pytest
from django.db import connection
from kombu.exceptions import OperationalError as BrokerError
from redis.exceptions import ConnectionError as RedisConnectionError

from integrations.models import ApiToken
from leadbridge import lookups, outages
from leadbridge.celery import app as celery_app
from leads.models import Lead

from ..api.conftest import api_client, lead_payload
from ..problems import assert_problem

REDIS_PORTS = range(8570, 8600)  # this suite's own range on the shared machine


def _free_port(ports: range) -> int:
    for port in ports:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    raise RuntimeError("no free port for a test redis-server")


class OwnRedis:
    def __init__(self, ports: range = REDIS_PORTS):
        self.port = _free_port(ports)
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                shutil.which("redis-server"),
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            if time.monotonic() > deadline:
                raise RuntimeError("test redis-server did not start")
            time.sleep(0.05)  # waiting for a process, not for time to pass

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
def own_redis(settings, monkeypatch):
    """A redis-server of this test's own, as the lookups' and throttle's cache and the broker."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    redis = OwnRedis()
    cache = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis.url}
    settings.CACHES = {
        **settings.CACHES,
        "lookups": {**cache, "KEY_PREFIX": "lookups"},
        "throttle": {**cache, "KEY_PREFIX": "throttle"},
    }
    settings.LEADBRIDGE_LOOKUP_CACHE = "lookups"
    settings.LEADBRIDGE_THROTTLE_CACHE = "throttle"
    monkeypatch.setitem(celery_app.conf, "broker_url", redis.url)
    monkeypatch.setitem(celery_app.conf, "broker_transport_options", {})
    monkeypatch.setattr(outages, "_last_warned", {})
    celery_app.pool.force_close_all()
    lookups.intake.clear_local()
    yield redis
    redis.kill()
    celery_app.pool.force_close_all()  # the next test connects to the real broker again
    lookups.intake.clear_local()


@pytest.mark.django_db
def test_with_redis_down_token_intake_and_the_queue_keep_working(
    own_redis, marketer, campaign, rep, client, caplog
):
    api = api_client(marketer)
    up = api.post(
        "/api/v1/leads/",
        lead_payload(campaign, external_id="up", email="up@example.com"),
        format="json",
    )
    assert up.status_code == 201  # through Redis: lookups and throttle in use

    own_redis.kill()
    with caplog.at_level(logging.WARNING, logger="leadbridge.outages"):
        singles = [
            api.post(
                "/api/v1/leads/",
                lead_payload(campaign, external_id=f"s{i}", email=f"s{i}@example.com"),
                format="json",
            )
            for i in range(3)
        ]
        bulk = api.post(
            "/api/v1/leads/bulk/",
            {
                "leads": [
                    lead_payload(campaign, external_id=f"b{i}", email=f"b{i}@example.com")
                    for i in range(2)
                ]
            },
            format="json",
        )
        # A token written during the outage: its copies are dropped once Redis is back.
        api_client(marketer)
    assert [answer.status_code for answer in singles] == [201, 201, 201]
    assert bulk.status_code in (200, 201) and bulk.json()["created"] == 2
    assert Lead.objects.count() == 6
    # One line per subject, not one per request.
    warned = [record.getMessage() for record in caplog.records]
    assert len([m for m in warned if m.startswith("Lookups")]) == 1
    assert len([m for m in warned if m.startswith("API throttle")]) == 1

    client.force_login(rep)
    assert client.get("/queue/").status_code == 200
    health = client.get("/healthz")
    assert health.status_code == 503 and health.json()["broker"].startswith("error")
    assert health.json()["database"] == "ok"


@pytest.mark.django_db
def test_a_write_during_a_redis_outage_reaches_the_other_processes_once_it_is_back(own_redis):
    from django.core.cache import caches

    other = lookups.Lookup("intake")  # another process's copies
    assert other.get("k", lambda: "old") == "old"
    version = caches["lookups"].get("lookup-version:intake")
    own_redis.kill()
    ApiToken.objects.update(name="renamed")  # invalidates; Redis cannot be told
    assert lookups.intake.get("k", lambda: "new") == "new"  # the database, nothing kept
    own_redis.start()  # back, still holding the old version (as after a network blip)
    caches["lookups"].set("lookup-version:intake", version, None)
    assert other.get("k", lambda: "new") == "old"
    lookups.intake.get("k", lambda: "new")  # the writer's process reaches Redis again
    assert other.get("k", lambda: "new") == "new"


def _database_down(monkeypatch):
    """The default connection, reconnecting to a port where nothing listens."""
    connection.close()
    monkeypatch.setitem(connection.settings_dict, "HOST", "127.0.0.1")
    monkeypatch.setitem(connection.settings_dict, "PORT", "1")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_with_the_database_down_the_api_answers_json_503_with_retry_after(
    marketer, campaign, monkeypatch
):
    api = api_client(marketer)
    _database_down(monkeypatch)
    try:
        answer = api.post("/api/v1/leads/", lead_payload(campaign), format="json")
        listed = api.get("/api/v1/leads/")
    finally:
        connection.close()
    monkeypatch.undo()
    for response in (answer, listed):
        assert response.status_code == 503
        assert response["Retry-After"] == str(outages.RETRY_AFTER)
        body = assert_problem(response, 503, "service_unavailable")
        assert body["errors"] == [] and body["instance"] == response.wsgi_request.path


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("language", "text"),
    [("en", "Back in a moment"), ("de", "Gleich wieder da")],
)
def test_with_the_database_down_the_browser_gets_a_friendly_translated_503_page(
    rep, client, monkeypatch, language, text
):
    client.force_login(rep)
    _database_down(monkeypatch)
    try:
        page = client.get("/queue/", HTTP_ACCEPT_LANGUAGE=language)
    finally:
        connection.close()
    monkeypatch.undo()
    assert page.status_code == 503
    assert page["Retry-After"] == str(outages.RETRY_AFTER)
    assert text in page.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("error", [RedisConnectionError, BrokerError])
def test_a_redis_error_that_escapes_a_view_is_a_503_not_a_500(rep, client, monkeypatch, error):
    from followups import views

    def enqueue_fails(*args, **kwargs):
        raise error("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(views, "render", enqueue_fails)
    client.force_login(rep)
    page = client.get("/queue/", HTTP_ACCEPT_LANGUAGE="en")
    assert page.status_code == 503 and "Back in a moment" in page.content.decode()


def test_no_task_outlives_the_brokers_visibility_timeout_and_the_digests_come_back_in_time():
    from django.conf import settings as django_settings

    import leadbridge.settings as config

    if not config.REDIS_URL:
        pytest.skip("the visibility timeout is Redis's")
    timeout = django_settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"]
    celery_app.loader.import_default_modules()
    limits = [
        task.time_limit or celery_app.conf.task_time_limit
        for name, task in celery_app.tasks.items()
        if not name.startswith("celery.")
    ]
    assert max(limits) < timeout
    late = {"followups.tasks.send_daily_digest_task", "reporting.tasks.send_weekly_summary_task"}
    for entry in django_settings.CELERY_BEAT_SCHEDULE.values():
        if entry["task"] in late:
            assert timeout < entry["options"]["expires"]


def test_only_an_unreachable_database_is_an_outage_a_deadlock_or_missing_table_is_a_bug():
    """503 says "try again": an error of ours must stay a 500 with its traceback."""
    from django.db import OperationalError

    from leadbridge.outages import is_outage

    def database_error(sqlstate, text="x"):
        cause = type("PgError", (Exception,), {"sqlstate": sqlstate})(text)
        error = OperationalError(text)
        error.__cause__ = cause
        return error

    assert is_outage(database_error("08006"))  # connection failure
    assert is_outage(database_error("57P01"))  # admin shutdown
    assert not is_outage(database_error("40P01"))  # deadlock
    assert not is_outage(database_error("57014"))  # statement timeout
    assert not is_outage(OperationalError("no such table: leads_lead"))
    assert is_outage(OperationalError("connection failed: connection refused"))
