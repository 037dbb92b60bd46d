"""A team lead and an admin on the dashboard, in German, on a desktop and a phone:
headline shares, no sideways scrolling, a chart bar that opens its leads."""

import os
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import Role
from reporting.rollup import dashboard_rollup_refresh

from ..factories import UserFactory, receive_lead

SIZES = {"desktop": (1366, 900), "phone": (390, 844)}


@pytest.mark.parametrize("browser_locale", ["de-DE"])
@pytest.mark.parametrize("size", list(SIZES))
@pytest.mark.parametrize("username", ["mara", "ada"])
def test_the_dashboard_fits_the_screen_and_a_chart_bar_opens_its_leads(
    page: Page, live_server, campaign, rep, manager, team, tmp_path, size, username
):
    UserFactory(username="ada", first_name="Ada", last_name="Admin", role=Role.ADMIN, team=team)
    now = timezone.now()
    for days in (2, 10, 40):  # the last one: long before the period, still overdue
        receive_lead(
            campaign=campaign,
            company=f"Firma vor {days} Tagen",
            received_at=now - timedelta(days=days),
            requests_material=True,
        )
    dashboard_rollup_refresh(now=now)
    width, height = SIZES[size]
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Benutzername").fill(username)
    page.get_by_label("Passwort").fill("pw")
    page.get_by_role("button", name="Anmelden").click()
    page.goto(f"{live_server.url}/dashboard/")
    expect(page.get_by_role("heading", name="Die Kernquoten")).to_be_visible()
    expect(page.get_by_test_id("headline-never_called_share")).to_contain_text("Nie zurückgerufen")
    overdue = page.get_by_test_id("tile-overdue_now").locator(".figure")
    expect(overdue).not_to_have_text("0")
    fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert fits, f"the dashboard scrolls sideways: {widths}"
    folder = Path(os.environ.get("LEADBRIDGE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"dashboard-{username}-de-{size}.png"), full_page=True)

    # The funnel's first bar (stage "Lead": every lead of the period) opens its leads.
    canvas = page.locator("#chart-funnel")
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    bar = page.evaluate(
        """() => {
            const bar = Chart.getChart("chart-funnel").getDatasetMeta(0).data[0];
            return { x: bar.x - 5, y: bar.y };
        }"""
    )
    page.mouse.click(box["x"] + bar["x"], box["y"] + bar["y"])
    expect(page).to_have_url(re.compile(r"/dashboard/leads/\?.*stage=lead"))
    expect(page.get_by_role("link", name="Firma vor 2 Tagen")).to_be_visible()
    expect(page.get_by_role("link", name="Firma vor 40 Tagen")).to_have_count(0)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(folder / f"dashboard-leads-{username}-de-{size}.png"), full_page=True)
