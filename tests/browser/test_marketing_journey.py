"""Marketing's journey in Chromium: plan a campaign, get it signed off despite the
capacity warning, import a fair's scans while the progress bar moves, download the
error report, and see a web-form enquiry arrive with its deadlines."""

import csv
import io
import re
import threading
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone, translation
from django.utils.formats import date_format
from playwright.sync_api import Page, expect

from campaigns.models import Campaign
from leads import imports, tasks
from leads.models import Lead

from .conftest import login

SCANS = (
    "Scan-ID;Firma;Vorname;Nachname;E-Mail;Telefon;Datum\n"
    + "".join(
        f"S{i};Firma {i} GmbH;Vor{i};Nach{i};kontakt{i}@firma{i}.example;;02.03.2026 10:{i:02d}\n"
        for i in range(9)
    )
    + "S90;Kaputt AG;Karl;Kaputt;karl(at)kaputt.example;;02.03.2026 11:00\n"
    + "S91;Zukunft KG;Zora;Zeit;zora@zukunft.example;;02.03.2099 11:00\n"
    + "S92;Ohne Weg;Otto;Ohne;;;02.03.2026 11:00\n"
).encode("cp1252")


@pytest.fixture(autouse=True)
def webform_counts_in_memory(settings):
    """Rate-limit counts in the per-test local cache, not a Redis shared across runs."""
    settings.LEADBRIDGE_WEBFORM_CACHE = "default"


@pytest.fixture
def slow_import_worker(monkeypatch, settings, tmp_path):
    """The Celery task, run by a thread as a worker would, two rows per chunk and slowly
    enough that the progress bar is seen moving."""
    settings.MEDIA_ROOT = tmp_path
    real_commit = imports._commit_chunk
    threads = []

    def slow_commit(*args, **kwargs):
        time.sleep(0.6)
        return real_commit(*args, **kwargs)

    def run(job_id):
        try:
            imports.import_run(job_id=job_id, chunk_size=2)
        finally:
            connection.close()

    def delay(job_id):
        thread = threading.Thread(target=run, args=(job_id,), daemon=True)
        threads.append(thread)
        thread.start()

    monkeypatch.setattr(imports, "_commit_chunk", slow_commit)
    monkeypatch.setattr(tasks.import_run_task, "delay", delay)
    yield
    for thread in threads:
        thread.join(timeout=30)


def _logout(page: Page):
    page.get_by_role("button", name="Log out").click()


def test_a_marketer_plans_gets_sign_off_imports_and_sees_a_web_lead_arrive(
    page: Page, live_server, browser, marketer, manager, rep, second_rep, team, slow_import_worker
):
    calendar = team.calendar()
    start = timezone.localdate() + timedelta(days=7 - timezone.localdate().weekday())
    while not calendar.is_working_day(start):
        start += timedelta(days=7)

    # 1. Marketing plans the campaign.
    login(page, live_server, "mike", "pw")
    page.get_by_role("link", name="New campaign").click()
    page.get_by_label("Name", exact=True).fill("Webinar Antriebstechnik")
    page.get_by_label("Channel").select_option("webinar")
    page.get_by_label("Starts on").fill(start.isoformat())
    page.get_by_label("Ends on").fill(start.isoformat())  # a one-day webinar
    page.get_by_label("Budget (EUR)").fill("6000")
    page.get_by_label("Expected responses").fill("200")
    page.get_by_label("Hypothesis").fill("200 Anmeldungen, 20 Termine")
    page.get_by_label("Follow-up team (proposed)").select_option(label="Vertrieb Süd")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_test_id("campaign-status")).to_have_text("Planned")
    expect(
        page.get_by_text("Waiting for the team lead of Vertrieb Süd to sign off")
    ).to_be_visible()
    expect(page.get_by_role("button", name="Activate campaign")).to_have_count(0)
    page.get_by_role("button", name="Ask the team lead for the sign-off").click()
    expect(page.get_by_test_id("signoff-requested")).to_contain_text("waiting for the team lead")
    campaign = Campaign.objects.get(name="Webinar Antriebstechnik")
    _logout(page)

    # 2. The team lead sees the capacity warning, with numbers, and signs anyway.
    login(page, live_server, "mara", "pw")
    expect(page.get_by_test_id("bell-count")).to_have_text("1")  # the request
    page.get_by_role("link", name="Campaign sign-offs").click()
    page.get_by_role("link", name="Webinar Antriebstechnik").click()
    page.get_by_role("link", name="Review and sign off the follow-up plan").click()
    warning = page.get_by_test_id("capacity-warning")
    expect(warning).to_contain_text(
        f"Expected 200 new leads on day 1 ({start.day} {start:%b %Y}), capacity 50 per day."
    )
    expect(warning).to_contain_text("Stagger the start: release it in 4 waves over 4 working days")
    page.get_by_role("button", name="Sign off").click()
    expect(page.get_by_text("confirm that you have seen the capacity warning")).to_be_visible()
    page.get_by_label("I have seen the capacity warning and sign off anyway.").check()
    page.get_by_role("button", name="Sign off").click()
    expect(page.get_by_test_id("signoff-state")).to_contain_text("by Mara Manager")
    expect(page.get_by_test_id("signoff-state")).to_contain_text(
        "Signed despite the capacity warning"
    )
    _logout(page)

    # 3. Marketing activates it and imports the fair's scans.
    login(page, live_server, "mike", "pw")
    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/")
    page.get_by_role("button", name="Activate campaign").click()
    expect(page.get_by_test_id("campaign-status")).to_have_text("Active")
    page.get_by_role("link", name="Import CSV / Excel").click()
    page.get_by_label("CSV or Excel file (.csv, .xlsx)").set_input_files(
        {"name": "webinar-anmeldungen.csv", "mimeType": "text/csv", "buffer": SCANS}
    )
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.get_by_text("12 rows for “Webinar Antriebstechnik”")).to_be_visible()
    expect(page.get_by_role("cell", name="Firma 0 GmbH")).to_be_visible()
    expect(page.get_by_label("Column “E-Mail” is")).to_have_value("email")
    page.get_by_label("Pre-contract enquiry (Art. 6(1)(b) GDPR)").check()
    page.get_by_role("button", name="Start import").click()

    bar = page.locator("#import-bar")
    expect(bar).to_have_attribute("max", "12")
    expect(bar).to_have_attribute("value", re.compile(r"^([2-9]|10)$"))  # seen part-way
    expect(page.get_by_test_id("import-status")).to_have_text("Done", timeout=30_000)
    expect(bar).to_have_attribute("value", "12")
    expect(page.get_by_test_id("import-counts")).to_contain_text("9 leads created")
    expect(page.get_by_test_id("import-counts")).to_contain_text("3 rows with errors")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download the error report (CSV)").click()
    report = list(
        csv.reader(io.StringIO(download_info.value.path().read_text(encoding="utf-8-sig")))
    )
    assert [(row[0], row[1]) for row in report[1:]] == [
        ("11", "Error: not imported"),
        ("12", "Error: not imported"),
        ("13", "Error: not imported"),
    ]
    assert "“karl(at)kaputt.example” is not a valid email address" in report[1][2]
    assert "lies in the future" in report[2][2]
    assert "no email, phone or postal address" in report[3][2]
    assert Lead.objects.filter(campaign=campaign).count() == 9

    # 4. Someone fills in the public form (no login, own browser).
    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/")
    form_url = page.get_by_test_id("form-link").get_attribute("href")
    visitor = browser.new_context(locale="en-US", timezone_id="Europe/Berlin")
    public = visitor.new_page()
    public.goto(form_url + "?lang=en")
    public.get_by_label("Your name").fill("Wanda Web")
    public.get_by_label("Company").fill("Webkunde GmbH")
    public.get_by_label("Email", exact=True).fill("wanda@webkunde.example")
    public.get_by_label("Phone").fill("089 7654321")
    public.get_by_label("Please call me").check()
    public.get_by_label(campaign.consent_text_for("en")).check()
    public.get_by_role("button", name="Send enquiry").click()
    expect(public.get_by_role("heading", name="Thank you for your enquiry")).to_be_visible()
    expect(public.get_by_test_id("promise")).to_contain_text("Our sales team will contact you by")
    visitor.close()

    # 5. The lead appears on the campaign page, with its deadlines.
    page.goto(f"{live_server.url}/campaigns/{campaign.pk}/")
    expect(page.get_by_test_id("fig-leads")).to_contain_text("10")
    page.get_by_role("link", name="Webkunde GmbH").click()
    lead = Lead.objects.get(company="Webkunde GmbH")
    assert lead.source == "web_form" and lead.consent_at is not None
    followups = page.locator("section.card", has=page.get_by_role("heading", name="Follow-ups"))
    with translation.override("en"):
        for followup in lead.followups.all():
            row = followups.get_by_role("row").filter(has_text=str(followup.get_kind_display()))
            expect(row).to_contain_text(
                date_format(timezone.localtime(followup.due_at), "SHORT_DATETIME_FORMAT")
            )


@pytest.mark.parametrize("browser_locale", ["de-DE"])
def test_the_public_form_follows_the_browser_language_and_can_be_switched(
    page: Page, live_server, campaign
):
    campaign.consent_text_en = "I agree."
    campaign.save()
    page.goto(f"{live_server.url}/f/{campaign.form_key}/")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.get_by_text(campaign.consent_text_for("de"))).to_be_visible()
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_text("I agree.", exact=True)).to_be_visible()


def test_the_embedded_form_works_inside_a_foreign_page(page: Page, live_server, campaign, rep):
    # Another site (localhost is not 127.0.0.1 to the browser): the form is a cross-site frame.
    host_url = live_server.url.replace("127.0.0.1", "localhost") + "/kunde.html"
    form_url = f"{live_server.url}/f/{campaign.form_key}/embed/?lang=en"
    host = f'<html><body><h1>Kunde</h1><iframe id="lb" src="{form_url}" height="900"></iframe>'
    page.route(host_url, lambda route: route.fulfill(body=host, content_type="text/html"))
    page.goto(host_url)
    frame = page.frame_locator("#lb")
    frame.get_by_label("Your name").fill("Iris Iframe")
    frame.get_by_label("Email", exact=True).fill("iris@example.com")
    frame.get_by_label("No material, thank you").check()
    frame.get_by_label(campaign.consent_text_for("en")).check()
    frame.get_by_role("button", name="Send enquiry").click()
    expect(frame.get_by_role("heading", name="Thank you for your enquiry")).to_be_visible()
    assert Lead.objects.filter(email="iris@example.com", source="web_form").count() == 1


@pytest.mark.parametrize("browser_locale", ["de-DE"])
def test_in_german_the_marketer_and_the_visitor_see_german_pages(
    page: Page, live_server, browser, campaign, marketer, rep
):
    # Needs locale/de compiled (compilemessages), like the login page's German test.
    page.goto(f"{live_server.url}/login/")
    page.get_by_label("Benutzername").fill("mike")
    page.get_by_label("Passwort").fill("pw")
    page.get_by_role("button", name="Anmelden").click()
    expect(page.get_by_role("link", name="Neue Kampagne")).to_be_visible()
    page.get_by_role("link", name="Hannover Messe").click()
    expect(page.get_by_role("heading", name="Was aus den Leads wurde")).to_be_visible()

    visitor = browser.new_context(locale="de-DE", timezone_id="Europe/Berlin")
    public = visitor.new_page()
    public.goto(f"{live_server.url}/f/{campaign.form_key}/")
    expect(public.locator("html")).to_have_attribute("lang", "de")
    public.get_by_label("Ihr Name").fill("Greta Groß")
    public.get_by_label("E-Mail", exact=True).fill("greta@example.com")
    public.get_by_label("Kein Material, danke").check()
    public.get_by_label(campaign.consent_text_for("de")).check()
    public.get_by_role("button", name="Anfrage senden").click()
    expect(public.get_by_role("heading", name="Vielen Dank für Ihre Anfrage")).to_be_visible()
    visitor.close()
    assert Lead.objects.filter(email="greta@example.com").exists()
