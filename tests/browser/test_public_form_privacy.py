"""The German public form in Chromium, desktop and phone: its own consent text, the
privacy notice, the separate marketing box, and the double opt-in through to the click.

Screenshots go to $LEADBRIDGE_SCREENSHOTS when set (else the test's tmp folder)."""

import os
import re
from pathlib import Path

import pytest
from django.core import mail
from django.utils import timezone
from playwright.sync_api import Page, expect

from campaigns.models import Channel
from campaigns.services import opt_in_emails_send
from leads.models import Lead

from ..factories import CampaignFactory

GERMAN_CONSENT = (
    "Ich bin damit einverstanden, dass meine Angaben verwendet werden, um mir das "
    "Material zu senden und mich zu kontaktieren."
)
SIZES = {"desktop": (1366, 900), "phone": (390, 844)}


@pytest.mark.parametrize("browser_locale", ["de-DE"])
@pytest.mark.parametrize("size", list(SIZES))
def test_the_german_form_shows_german_consent_the_privacy_notice_and_an_unticked_news_box(
    page: Page, live_server, team, rep, marketer, settings, tmp_path, size
):
    settings.LEADBRIDGE_PRIVACY_URL = "https://www.example.com/datenschutz"
    # Created in the English UI, as the issue describes.
    from django.utils import translation

    with translation.override("en"):
        campaign = CampaignFactory(
            name="Webinar Antriebstechnik", channel=Channel.WEBSITE, owner=marketer, team=team
        )
    width, height = SIZES[size]
    page.set_viewport_size({"width": width, "height": height})
    page.goto(f"{live_server.url}/f/{campaign.form_key}/")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    consent = page.get_by_label(GERMAN_CONSENT)
    expect(consent).to_be_visible()
    expect(consent).not_to_be_checked()
    expect(page.get_by_text("I agree that my details")).to_have_count(0)
    privacy = page.get_by_role("link", name="Datenschutzerklärung")
    expect(privacy).to_have_attribute("href", "https://www.example.com/datenschutz")
    news = page.get_by_label("Ich möchte Neuigkeiten und Werbe-E-Mails erhalten.")
    expect(news).to_be_visible()
    expect(news).not_to_be_checked()
    # Nothing wider than the screen on a phone.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    folder = Path(os.environ.get("LEADBRIDGE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"webform-de-{size}-{width}x{height}.png"), full_page=True)

    # Send it with the news box ticked; confirm through the emailed link.
    page.get_by_label("Ihr Name").fill("Greta Groß")
    page.get_by_label("E-Mail", exact=True).fill("greta@example.com")
    consent.check()
    news.check()
    page.get_by_role("button", name="Anfrage senden").click()
    expect(page.get_by_test_id("opt-in-sent")).to_be_visible()
    lead = Lead.objects.get(email="greta@example.com")
    assert (lead.consent_text, lead.consent_language, lead.lawful_basis) == (
        GERMAN_CONSENT,
        "de",
        "consent",
    )
    assert not lead.has_marketing_consent
    assert opt_in_emails_send(now=timezone.now()) == 1
    path = re.search(r"https?://[^/\s]+(/f/opt-in/\S+)", mail.outbox[-1].body)[1]
    page.goto(live_server.url + path)
    page.get_by_role("button", name="Ja, Neuigkeiten senden").click()
    expect(page.get_by_test_id("opt-in")).to_have_attribute("data-state", "confirmed")
    if size == "phone":
        page.screenshot(path=str(folder / "opt-in-confirmed-de-phone.png"))
    lead.refresh_from_db()
    assert lead.has_marketing_consent
