"""A manager goes from a red figure on the dashboard to the leads behind it and exports them."""

import csv
import io
from datetime import timedelta

from django.utils import timezone
from playwright.sync_api import Page, expect

from followups.services import call_log

from ..factories import receive_lead
from .conftest import login, path_is


def test_a_manager_clicks_never_contacted_sees_the_forgotten_lead_and_exports_it(
    page: Page, live_server, campaign, rep, manager
):
    now = timezone.now()
    receive_lead(campaign=campaign, company="Vergessen AG", received_at=now - timedelta(weeks=3))
    called = receive_lead(
        campaign=campaign, company="Angerufen GmbH", received_at=now - timedelta(days=2)
    )
    call_log(
        followup=called.followups.get(kind="callback"),
        by=rep,
        at=now - timedelta(days=1),
        outcome="reached",
    )

    login(page, live_server, "mara", "pw")
    expect(page).to_have_url(path_is(live_server, "/dashboard/"))
    tile = page.get_by_test_id("tile-never_contacted")
    expect(tile).to_have_class("tile bad")
    expect(tile.locator(".figure")).to_have_text("1")

    tile.locator(".figure").click()
    expect(page.get_by_role("link", name="Vergessen AG")).to_be_visible()
    expect(page.get_by_text("Angerufen GmbH")).to_have_count(0)

    with page.expect_download() as download:
        page.get_by_role("link", name="Export as CSV").click()
    text = download.value.path().read_text(encoding="utf-8-sig")
    companies = [cell for row in csv.reader(io.StringIO(text)) for cell in row]
    assert "Vergessen AG" in companies and "Angerufen GmbH" not in companies
