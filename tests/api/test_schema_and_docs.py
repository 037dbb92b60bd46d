"""The OpenAPI schema, the Swagger UI from our own static files, and a schemathesis run."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from accounts.models import Role
from integrations.models import Scope
from integrations.services import token_create

from ..factories import CampaignFactory, UserFactory, receive_lead


@pytest.fixture
def schema(tmp_path, db):
    path = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    return yaml.safe_load(path.read_text())


def test_the_schema_is_valid_openapi_3_without_warnings(schema):
    assert schema["openapi"].startswith("3.")
    assert "tokenAuth" in schema["components"]["securitySchemes"]
    assert {
        "/api/v1/leads/",
        "/api/v1/leads/bulk/",
        "/api/v1/followups/",
        "/api/v1/followups/{id}/dispatch/",
        "/api/v1/leads/{id}/timeline/",
        "/api/v1/dashboard/",
        "/api/v1/auth/token/",
        "/api/v1/webhooks/",
        "/api/v1/teams/",
        "/api/v1/users/",
        "/api/v1/campaigns/",
        "/api/v1/materials/",
    } <= set(schema["paths"])


def test_every_operation_documents_its_error_answers(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            assert {"400", "401", "403", "404", "429"} <= codes, (method, path)
            for code in codes - {"200", "201", "204", "414"}:
                content = operation["responses"][code]["content"]["application/json"]["schema"]
                assert content == {"$ref": "#/components/schemas/Error"}, (method, path, code)


def test_lists_are_cursor_paginated_and_follow_ups_filter_by_the_issues_fields(schema):
    names = {p["name"] for p in schema["paths"]["/api/v1/followups/"]["get"]["parameters"]}
    assert {"cursor", "page_size", "ordering", "lead", "state", "kind", "assignee"} <= names
    idempotency = [
        p for p in schema["paths"]["/api/v1/leads/"]["post"]["parameters"] if p["in"] == "header"
    ]
    assert idempotency[0]["name"] == "Idempotency-Key"


@pytest.mark.django_db
def test_the_docs_page_is_served_from_the_apps_own_static_files_without_login():
    page = APIClient().get("/api/v1/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    for cdn in ("cdn.", "unpkg", "jsdelivr", "cdnjs", "googleapis"):
        assert cdn not in html
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
    assert APIClient().get("/api/v1/schema/").status_code == 200


# --- schemathesis against the live schema ------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    """The test database as a DATABASE_URL, for a server process of its own."""
    db = connection.settings_dict
    if connection.vendor == "postgresql":
        auth = quote(db["USER"] or "") + (f":{quote(db['PASSWORD'])}" if db["PASSWORD"] else "")
        return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


@contextmanager
def _gunicorn(workers: int):
    """The app in gunicorn on a free local port, against the test database."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "DEBUG": "true",
        "LOG_LEVEL": "WARNING",
        "LEADBRIDGE_API_RATE": "100000/min",
        "LEADBRIDGE_API_BULK_RATE": "100000/min",
        "LEADBRIDGE_API_AUTH_RATE": "100000/min",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "leadbridge.wsgi",
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                with urllib.request.urlopen(f"{url}/api/v1/schema/", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                time.sleep(0.2)
        else:
            raise AssertionError("gunicorn did not serve the schema within 30 s")
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=20)


@pytest.mark.django_db(transaction=True)
def test_schemathesis_finds_no_server_error_and_no_schema_violation(tmp_path):
    """Every operation, fuzzed by schemathesis against the app in gunicorn, as an admin token.

    Phases coverage (boundary and invalid values for every parameter and field)
    and fuzzing (a few random examples each); all checks but
    positive_data_acceptance: a schema cannot say that campaign 7 must exist or
    that received_at may not lie in the future, so schema-valid bodies may
    rightly answer 400. The token's own revocation is left out: it would end
    the run. Bounded by --max-examples (no --max-time: fuzzing would repeat until it is spent).
    """
    admin = UserFactory(username="fuzz", role=Role.ADMIN)
    campaign = CampaignFactory(owner=admin)
    UserFactory(username="fuzzrep", role=Role.REP, team=campaign.team)
    receive_lead(campaign=campaign, requests_material=True)
    key = token_create(user=admin, name="schemathesis", scopes=list(Scope.values)).key
    # SQLite takes one writer at a time: one worker there, two on PostgreSQL.
    with _gunicorn(workers=2 if connection.vendor == "postgresql" else 1) as url:
        command = [
            str(Path(sys.executable).with_name("schemathesis")),
            "run",
            f"{url}/api/v1/schema/",
            "--header",
            f"Authorization: Token {key}",
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
            "--phases",
            "coverage,fuzzing",
            "--max-examples",
            os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "5"),
            "--exclude-path",
            "/api/v1/tokens/{id}/revoke/",
            "--workers",
            "2",
            "--request-timeout",
            "30",
            "--seed",
            os.environ.get("SCHEMATHESIS_SEED", "20261117"),
        ]
        run = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,  # its cache dir goes there
            env={**os.environ, "NO_COLOR": "1"},
        )
    if os.environ.get("SCHEMATHESIS_OUTPUT"):  # the whole report, for a person reading failures
        Path(os.environ["SCHEMATHESIS_OUTPUT"]).write_text(run.stdout)
    summary = run.stdout[-8000:]
    assert run.returncode == 0, summary
    tail = summary.split("SUMMARY")[-1]
    assert " passed" in tail and "Failures" not in tail, summary
