"""Under the Content-Security-Policy the pages work and Chromium reports no violation:
charts draw, htmx swaps, Swagger UI renders, the public form shows.

Violations are caught twice: the `securitypolicyviolation` events a script added
before any page script records (init scripts are not subject to the policy), and
Chromium's "Refused to …" console errors.
"""

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Role

from ..factories import UserFactory, receive_lead
from .conftest import login

RECORD_VIOLATIONS = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


@pytest.fixture
def watched(page: Page) -> tuple[Page, list[str]]:
    refused: list[str] = []
    page.on(
        "console",
        lambda message: (
            refused.append(message.text)
            if "Content Security Policy" in message.text or "Refused to" in message.text
            else None
        ),
    )
    page.add_init_script(RECORD_VIOLATIONS)
    return page, refused


def _assert_no_violations(page: Page, refused: list[str], where: str) -> None:
    page.wait_for_load_state("load")
    violations = page.evaluate("window.__cspViolations")
    assert violations == [], f"{where}: {violations}"
    assert refused == [], f"{where}: {refused}"


def test_a_manager_s_pages_run_under_the_policy_without_violations(
    watched, live_server, campaign, rep, manager
):
    page, refused = watched
    receive_lead(campaign=campaign, company="Messe Eins GmbH")
    login(page, live_server, "mara", "pw")

    page.goto(f"{live_server.url}/dashboard/")
    expect(page.locator("#chart-trend")).to_be_visible()
    # Chart.js drew: the canvas got its size from the script.
    page.wait_for_function("document.getElementById('chart-trend').width > 0")
    _assert_no_violations(page, refused, "/dashboard/")

    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/")
    page.wait_for_function("document.getElementById('chart-per-day').width > 0")
    _assert_no_violations(page, refused, "campaign page")

    page.goto(f"{live_server.url}/queue/")
    # htmx loaded and swaps: the bell polls through it.
    page.wait_for_function("window.htmx !== undefined")
    _assert_no_violations(page, refused, "/queue/")


def test_swagger_ui_renders_under_the_policy(watched, live_server, db):
    page, refused = watched
    UserFactory(username="ada", role=Role.ADMIN, is_staff=True, is_superuser=True)
    login(page, live_server, "ada", "pw")
    page.goto(f"{live_server.url}/api/v1/docs/")
    expect(page.get_by_role("heading", name="LeadBridge API").first).to_be_visible()
    expect(page.locator(".opblock").first).to_be_visible()
    _assert_no_violations(page, refused, "/api/v1/docs/")


def test_the_public_form_and_the_admin_render_without_violations(watched, live_server, campaign):
    page, refused = watched
    page.goto(f"{live_server.url}/f/{campaign.form_key}/")
    expect(page.locator("form")).to_be_visible()
    _assert_no_violations(page, refused, "public form")

    UserFactory(username="ada", role=Role.ADMIN, is_staff=True, is_superuser=True)
    login(page, live_server, "ada", "pw")
    page.goto(f"{live_server.url}/admin/")
    expect(page.locator("#content")).to_be_visible()
    _assert_no_violations(page, refused, "/admin/")
