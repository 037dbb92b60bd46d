"""Each role signs in and lands where its work is; the login page speaks German and English."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from ..factories import CampaignFactory, receive_lead
from .conftest import login, path_is


def section(page: Page, heading: str):
    """A queue section, found by its accessible name (its heading without the count)."""
    return page.get_by_role("region", name=heading, exact=True)


def test_a_rep_lands_on_the_queue_and_sees_the_three_week_old_lead_as_overdue(
    page: Page, live_server, campaign, rep
):
    now = timezone.now()
    receive_lead(campaign=campaign, company="Altbestand AG", received_at=now - timedelta(weeks=3))
    receive_lead(campaign=campaign, company="Frischkunde GmbH")

    login(page, live_server, "rita", "pw")

    expect(page).to_have_url(path_is(live_server, "/queue/"))
    expect(page.get_by_role("heading", name="My follow-up queue")).to_be_visible()
    overdue = section(page, "Overdue")
    expect(overdue.get_by_role("link", name="Altbestand AG").first).to_be_visible()
    expect(overdue.get_by_text("Frischkunde GmbH")).to_have_count(0)
    expect(page.get_by_role("link", name="Frischkunde GmbH").first).to_be_visible()


def test_a_marketer_lands_on_the_campaign_list_and_sees_its_lead_count(
    page: Page, live_server, campaign, marketer, other_team
):
    other = CampaignFactory(name="Webinar Frühjahr", owner=marketer, team=other_team)
    receive_lead(campaign=campaign, company="Messe Eins GmbH")
    receive_lead(campaign=campaign, company="Messe Zwei GmbH")
    receive_lead(campaign=campaign, company="Messe Drei GmbH")
    receive_lead(campaign=other, company="Webinar KG")

    login(page, live_server, "mike", "pw")

    expect(page).to_have_url(path_is(live_server, "/campaigns/"))
    table = page.get_by_role("table")
    headers = table.get_by_role("columnheader").all_inner_texts()
    leads_column = headers.index("Leads")
    row = table.get_by_role("row").filter(has_text="Hannover Messe")
    expect(row.get_by_role("cell").first).to_have_text("Hannover Messe")
    expect(row.get_by_role("cell").nth(leads_column)).to_have_text("3")
    other_row = table.get_by_role("row").filter(has_text="Webinar Frühjahr")
    expect(other_row.get_by_role("cell").nth(leads_column)).to_have_text("1")


def test_a_manager_lands_on_the_dashboard_and_sees_the_team_leads_of_the_last_30_days(
    page: Page, live_server, campaign, rep, manager, marketer, other_team, other_team_rep
):
    now = timezone.now()
    receive_lead(campaign=campaign, company="Heute GmbH")
    receive_lead(
        campaign=campaign, company="Vor drei Wochen AG", received_at=now - timedelta(weeks=3)
    )
    receive_lead(campaign=campaign, company="Zu alt KG", received_at=now - timedelta(days=45))
    elsewhere = CampaignFactory(name="Nordtour", owner=marketer, team=other_team)
    receive_lead(campaign=elsewhere, company="Anderes Team GmbH")

    login(page, live_server, "mara", "pw")

    expect(page).to_have_url(path_is(live_server, "/dashboard/"))
    expect(page.get_by_role("heading", name="Handoff SLA dashboard")).to_be_visible()
    expect(page.get_by_test_id("tile-leads").locator(".figure")).to_have_text("2")


@pytest.mark.parametrize("browser_locale", ["de-DE"])
def test_the_login_page_switches_between_german_and_english(page: Page, live_server):
    html = page.locator("html")
    de = page.get_by_role("button", name="DE", exact=True)
    en = page.get_by_role("button", name="EN", exact=True)

    page.goto(f"{live_server.url}/login/")
    expect(html).to_have_attribute("lang", "de")
    expect(de).to_have_attribute("aria-pressed", "true")
    expect(en).to_have_attribute("aria-pressed", "false")

    en.click()
    expect(html).to_have_attribute("lang", "en")
    expect(en).to_have_attribute("aria-pressed", "true")
    expect(de).to_have_attribute("aria-pressed", "false")
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    expect(page).to_have_url(path_is(live_server, "/login/"))

    de.click()
    expect(html).to_have_attribute("lang", "de")
    expect(de).to_have_attribute("aria-pressed", "true")
    expect(en).to_have_attribute("aria-pressed", "false")
    # Needs locale/de compiled (compilemessages); fails until then, on purpose.
    expect(page.get_by_role("heading", name="Anmelden")).to_be_visible()
    expect(page.get_by_role("button", name="Anmelden")).to_be_visible()


def test_a_wrong_password_shows_the_error_and_stays_on_the_login_page(page: Page, live_server, rep):
    login(page, live_server, "rita", "not-her-password")

    expect(
        page.get_by_text("Your username and password didn't match. Please try again.")
    ).to_be_visible()
    expect(page).to_have_url(path_is(live_server, "/login/"))
    expect(page.get_by_label("Username")).to_have_value("rita")
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)


@pytest.mark.parametrize(
    ("username", "landing"),
    [("rita", "/queue/"), ("mara", "/dashboard/"), ("mike", "/campaigns/")],
)
def test_a_user_logs_out_with_the_button_and_lands_on_the_login_page(
    page: Page, live_server, rep, manager, marketer, username, landing
):
    login(page, live_server, username, "pw")
    expect(page).to_have_url(path_is(live_server, landing))

    page.get_by_role("button", name="Log out").click()

    expect(page).to_have_url(path_is(live_server, "/login/"))
    expect(page.get_by_role("heading", name="Log in")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)
    page.goto(f"{live_server.url}{landing}")
    expect(page).to_have_url(path_is(live_server, "/login/"))  # the session is really gone
