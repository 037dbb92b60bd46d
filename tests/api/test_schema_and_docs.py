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
from openapi_spec_validator import validate
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


@pytest.mark.django_db
def test_the_served_schema_passes_openapi_spec_validator():
    answer = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert answer.status_code == 200
    validate(answer.json())  # raises on anything OpenAPI 3.0 does not allow


def test_every_operation_documents_its_error_answers_as_problems(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            codes = set(operation["responses"])
            assert {"400", "401", "403", "404", "429", "503"} <= codes, (method, path)
            for code in codes - {"200", "201", "204", "414"}:
                content = operation["responses"][code]["content"]["application/problem+json"]
                assert content["schema"] == {"$ref": "#/components/schemas/Problem"}, (
                    method,
                    path,
                    code,
                )


def test_the_schema_says_what_the_server_enforces(schema):
    schemas = schema["components"]["schemas"]
    # Strict bodies: unknown fields are a 400, so the schema allows no others.
    for name in ("LeadIntakeRequest", "PatchedLeadUpdateRequest", "WebhookSubscriptionRequest"):
        assert schemas[name]["additionalProperties"] is False, name
    assert "default" not in schemas["LeadIntakeRequest"]["properties"]["email"]["anyOf"][0]
    leads = {p["name"]: p for p in schema["paths"]["/api/v1/leads/"]["get"]["parameters"]}
    assert leads["campaign"]["schema"]["minimum"] == 1
    assert leads["ordering"]["schema"]["items"]["enum"] == [
        "id",
        "-id",
        "received_at",
        "-received_at",
        "created_at",
        "-created_at",
    ]
    post = schema["paths"]["/api/v1/leads/"]["post"]
    key = next(p for p in post["parameters"] if p["name"] == "Idempotency-Key")
    assert key["schema"]["minLength"] == 1 and key["schema"]["maxLength"] == 255
    assert set(post["responses"]["201"]["headers"]) == {"Location", "Idempotent-Replayed"}
    assert "422" in post["responses"]


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


SCHEMATHESIS_CONFIG = """
# Read by `schemathesis run` (tests/api/test_schema_and_docs.py): every check, every phase.
[generation]
deterministic = true
max-examples = {max_examples}
# No NUL characters in generated strings: every text field of the API refuses them
# (DRF's ProhibitNullCharactersValidator; PostgreSQL text cannot hold them), which
# JSON Schema can only say with a pattern on every string. tests/api/test_hostile_bodies.py
# sends them to every write instead and expects the 400.
allow-x00 = false

# A request line longer than 4094 bytes is refused by gunicorn with 414 (documented on
# every operation) before the app sees it: for invalid data that is a rejection too.
[checks.negative_data_rejection]
expected-statuses = [400, 401, 403, 404, 405, 406, 409, 413, 414, 415, 422, 428, 429]

[phases.stateful]
max-steps = {max_steps}

# positive_data_acceptance runs everywhere; on these operations it also takes 400 and
# 422 as an answer to schema-valid data. Their bodies name other objects by id (a
# campaign, a rep, a team, a material), describe a moment, a URL that must resolve to a
# public address, a password, or act on a follow-up of the right kind, once; and a
# repeated Idempotency-Key with another body is 422 by design. A schema cannot say
# that campaign 7 must exist or that received_at (or a token's expires_at) may not lie
# in the past or future, so such bodies rightly answer 400. The privacy export needs
# ?email= or ?lead=: OpenAPI 3.0 cannot require one of two query parameters (the
# erasure's body says it, as anyOf). Everything else about them (negative data,
# status codes, bodies, headers, links) is still checked, and 5xx are never accepted.
[[operations]]
include-path-regex = '^/api/v1/(leads/(bulk/)?|leads/[{{]id[}}]/|followups/[{{]id[}}]/[a-z_]+/|campaigns/([{{]id[}}]/)?|materials/([{{]id[}}]/)?|webhooks/([{{]id[}}]/)?|webhook-deliveries/[{{]id[}}]/retry/|integration-tokens/|privacy/export/|auth/token/|dashboard/)$'
checks.positive_data_acceptance.expected-statuses = ["2xx", 400, 401, 403, 404, 409, 422, 429]
"""


@pytest.mark.django_db(transaction=True)
def test_schemathesis_finds_no_failure_of_any_kind(tmp_path):
    """Every operation, run by schemathesis against the app in gunicorn, as an admin token.

    All checks (--checks all) and all phases: examples, coverage (boundary and
    invalid values for every parameter and field), fuzzing and stateful (chains of
    calls along the schema's links: a created lead fetched and patched). Where a
    check's defaults do not fit this API (400 for valid bodies naming objects that do
    not exist, 414 from gunicorn, NUL characters), SCHEMATHESIS_CONFIG says why. The token's
    own revocation is left out: it would end the run. Bounded by max-examples and
    max-steps (no --max-time: fuzzing would repeat until it is spent); deterministic
    generation (no seed: the same cases every run), so a failure repeats.
    """
    admin = UserFactory(username="fuzz", role=Role.ADMIN)
    campaign = CampaignFactory(owner=admin)
    UserFactory(username="fuzzrep", role=Role.REP, team=campaign.team)
    receive_lead(campaign=campaign, requests_material=True)
    key = token_create(user=admin, name="schemathesis", scopes=list(Scope.values)).key
    config = tmp_path / "schemathesis.toml"
    config.write_text(
        SCHEMATHESIS_CONFIG.format(
            max_examples=os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "5"),
            max_steps=os.environ.get("SCHEMATHESIS_MAX_STEPS", "20"),
        )
    )
    # SQLite takes one writer at a time: one worker there, two on PostgreSQL.
    with _gunicorn(workers=2 if connection.vendor == "postgresql" else 1) as url:
        command = [
            str(Path(sys.executable).with_name("schemathesis")),
            "--config-file",
            str(config),
            "run",
            f"{url}/api/v1/schema/",
            "--header",
            f"Authorization: Token {key}",
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--exclude-path",
            "/api/v1/tokens/{id}/revoke/",
            "--workers",
            "2",
            "--request-timeout",
            "30",
            *os.environ.get("SCHEMATHESIS_EXTRA", "").split(),
        ]
        started = time.monotonic()
        run = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,  # its cache dir goes there
            env={**os.environ, "NO_COLOR": "1"},
        )
        took = time.monotonic() - started
    if os.environ.get("SCHEMATHESIS_OUTPUT"):  # the whole report, for a person reading failures
        Path(os.environ["SCHEMATHESIS_OUTPUT"]).write_text(run.stdout + run.stderr)
    summary = run.stdout[-8000:] + run.stderr[-2000:]
    assert run.returncode == 0, summary
    tail = summary.split("SUMMARY")[-1]
    assert " passed" in tail and "Failures" not in tail and "Errors" not in tail, summary
    for phase in ("Coverage", "Fuzzing", "Stateful"):  # each ran and passed, none skipped
        assert f"✅ {phase}" in tail, summary
    print(f"schemathesis: {took:.0f} s")  # noqa: T201 - shown with -s
