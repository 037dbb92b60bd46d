"""Security headers: a Content-Security-Policy on every page, no-store for signed-in users,
HTTPS redirect and HSTS when configured, and `check --deploy` clean with the documented
production variables."""

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from accounts.models import Role
from tests.factories import UserFactory, receive_lead

ROOT = Path(__file__).resolve().parents[2]
CSP = "Content-Security-Policy"

# Inline code the policy would block: <script> without src (json_script's data blocks
# are not run), <style>, style="…" and on…="…" attributes.
INLINE = [
    re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*application/json)[^>]*>", re.I),
    re.compile(r"<style\b", re.I),
    re.compile(r"<[a-z][^>]*\sstyle=", re.I),
    re.compile(r"<[a-z][^>]*\son[a-z]+=", re.I),
]


def _assert_csp_and_no_inline_code(response, path: str) -> None:
    assert response.status_code == 200, (path, response.status_code)
    policy = response.headers.get(CSP, "")
    assert "default-src 'self'" in policy, (path, policy)
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy, (path, policy)
    html = response.content.decode()
    for pattern in INLINE:
        found = pattern.search(html)
        assert found is None, f"{path}: inline code the CSP blocks: {found.group(0)!r}"


@pytest.fixture
def admin_user(team):
    return UserFactory(username="ada", role=Role.ADMIN, team=team, is_staff=True, is_superuser=True)


@pytest.fixture
def lead(campaign):
    return receive_lead(campaign=campaign)


def test_public_pages_carry_the_csp_and_no_inline_code(client, campaign):
    for path in ["/login/", f"/f/{campaign.form_key}/", f"/f/{campaign.form_key}/embed/"]:
        _assert_csp_and_no_inline_code(client.get(path), path)


def test_the_main_pages_of_each_role_carry_the_csp_and_no_inline_code(
    client, rep, manager, marketer, admin_user, campaign, lead
):
    pages = {
        marketer: [
            "/campaigns/",
            f"/campaigns/{campaign.pk}/",
            "/campaigns/nurturing/",
            "/campaigns/leads/new/",
            f"/campaigns/{campaign.pk}/import/",
            "/integrations/",
        ],
        rep: ["/queue/", f"/leads/{lead.pk}/", "/notifications/"],
        manager: ["/dashboard/", "/dashboard/leads/", "/queue/"],
        admin_user: ["/dashboard/", "/api/v1/docs/"],
    }
    for user, paths in pages.items():
        client.force_login(user)
        for path in paths:
            _assert_csp_and_no_inline_code(client.get(path), path)


def test_the_api_docs_init_script_is_served_from_its_own_url(client):
    page = client.get("/api/v1/docs/").content.decode()
    script = re.search(r'<script src="(/api/v1/docs/\?[^"]*script[^"]*)"', page)
    assert script, page
    response = client.get(script.group(1).replace("&amp;", "&"))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle" in response.content


def test_signed_in_pages_and_api_answers_are_not_stored(client, manager):
    client.force_login(manager)
    for path in ["/dashboard/", "/queue/", "/api/v1/leads/"]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert "no-store" in response["Cache-Control"], path


def test_csv_exports_of_personal_data_are_not_stored(client, marketer, manager, campaign, lead):
    client.force_login(marketer)
    exports = [f"/campaigns/{campaign.pk}/leads.csv", "/campaigns/nurturing/?format=csv"]
    for path in exports:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response["Content-Type"].startswith("text/csv"), path
        assert "no-store" in response["Cache-Control"], path
    client.force_login(manager)
    for path in ["/dashboard/?export=campaign", "/dashboard/leads/?export=csv"]:
        response = client.get(path)
        assert response.status_code == 200, path
        assert response["Content-Type"].startswith("text/csv"), path
        assert "no-store" in response["Cache-Control"], path


def test_with_ssl_redirect_http_goes_to_https_but_healthz_answers(client, settings, db):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    settings.SECURE_HSTS_SECONDS = 31536000
    redirect = client.get("/login/")
    assert redirect.status_code == 301
    assert redirect["Location"] == "https://testserver/login/"
    # Behind the TLS-terminating proxy (X-Forwarded-Proto: https): the page, with HSTS.
    page = client.get("/login/", headers={"x-forwarded-proto": "https"}, secure=True)
    assert page.status_code == 200
    assert page["Strict-Transport-Security"].startswith("max-age=31536000")
    assert client.get("/healthz").status_code in (200, 503)


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    """manage.py in a fresh interpreter with only `env` set, as a server would start it
    (not the test run's environment: the browser tests set DJANGO_ALLOW_ASYNC_UNSAFE)."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


# As README "Production settings" and .env.example document them.
PRODUCTION = {
    "DEBUG": "false",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "SESSION_COOKIE_SECURE": "true",
    "CSRF_COOKIE_SECURE": "true",
}


def test_check_deploy_is_clean_with_the_documented_production_variables(tmp_path):
    env = {
        **PRODUCTION,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "LEADBRIDGE_DATA_DIR": str(tmp_path),
    }
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues (0 silenced)" in result.stdout


def test_check_deploy_warns_without_them(tmp_path):
    """The test above proves something: plain DEBUG=false is not yet deploy-ready."""
    env = {"DEBUG": "false", "SECRET_KEY": "x" * 60, "LEADBRIDGE_DATA_DIR": str(tmp_path)}
    result = _manage("check", "--deploy", env=env)
    assert "security.W004" in result.stderr and "security.W008" in result.stderr
