"""Marketing's pages in German, in Chromium, on a desktop and a phone: asking for the
sign-off and getting the plan back with a comment (each side sees it in the bell), the
sign-off page with the real deadlines, the import page listing its row errors, and the
web form choosing no material in advance.

Screenshots go to $LEADBRIDGE_SCREENSHOTS when set (else the test's tmp folder)."""

import os
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page, expect

from campaigns.models import Channel
from leads.imports import import_configure, import_run, import_start

from ..factories import CampaignFactory, InfoMaterialFactory

SIZES = {"desktop": (1366, 900), "phone": (390, 844)}
SCANS = (
    "Firma;Name;E-Mail;Straße;PLZ;Ort;Datum\n"
    "Alpha GmbH;Anna Alt;anna@alpha.example;Hauptstr. 1;80331;München;02.03.2026\n"
    "Beta AG;Bernd Bus;bernd@beta.example;;;;02.03.2026\n"
    "Gamma KG;Gerd Gans;kaputt;Ring 2;80333;München;02.03.2026\n"
)


def _sign_in(page: Page, live_server, user) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": cookie.value, "url": live_server.url}]
    )


def _folder(tmp_path) -> Path:
    folder = Path(os.environ.get("LEADBRIDGE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _shot(page: Page, folder: Path, name: str, size: str) -> None:
    width, height = SIZES[size]
    # Nothing wider than the screen: a phone must not scroll sideways.
    wide = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
        .filter(e => !e.closest('.table-scroll'))
        .slice(0, 5).map(e => e.tagName + '.' + e.className + ' ' + e.textContent.slice(0, 40))"""
    )
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (name, wide)
    page.screenshot(path=str(folder / f"{name}-de-{size}-{width}x{height}.png"), full_page=True)


@pytest.fixture
def planned(team, rep, second_rep, manager, marketer, printed_brochure):
    whitepaper = InfoMaterialFactory(title="Whitepaper Antriebe", kind="digital")
    start = timezone.localdate() + timezone.timedelta(days=14)
    return CampaignFactory(
        name="Webinar-Reihe Antriebstechnik",
        channel=Channel.WEBINAR,
        owner=marketer,
        team=team,
        status="planned",
        starts_on=start,
        ends_on=start + timezone.timedelta(weeks=6),
        expected_responses=150,
        budget=4500,
        materials=[printed_brochure, whitepaper],
    )


@pytest.mark.parametrize("browser_locale", ["de-DE"])
@pytest.mark.parametrize("size", list(SIZES))
def test_sign_off_asked_and_sent_back_each_side_is_told(
    page: Page, live_server, planned, marketer, manager, tmp_path, size
):
    folder = _folder(tmp_path)
    page.set_viewport_size(dict(zip(("width", "height"), SIZES[size], strict=True)))

    _sign_in(page, live_server, marketer)
    page.goto(f"{live_server.url}/campaigns/{planned.pk}/")
    page.get_by_test_id("request-signoff").click()
    expect(page.get_by_test_id("signoff-requested")).to_be_visible()

    page.context.clear_cookies()
    _sign_in(page, live_server, manager)
    page.goto(f"{live_server.url}/campaigns/{planned.pk}/signoff/")
    expect(page.get_by_test_id("bell-count")).to_have_text("1")
    deadlines = page.get_by_test_id("plan-deadlines")
    expect(deadlines).to_contain_text("Infomaterial per Post bis")
    expect(deadlines).to_contain_text("Rückruf bis")
    expect(page.get_by_test_id("signoff-requested")).to_be_visible()
    _shot(page, folder, "signoff", size)
    page.get_by_label("Was soll das Marketing ändern?").fill(
        "Bitte erst nach dem Messe-Nachlauf starten, zwei Wochen später."
    )
    page.get_by_test_id("return-signoff").click()

    page.context.clear_cookies()
    _sign_in(page, live_server, marketer)
    page.goto(f"{live_server.url}/campaigns/{planned.pk}/")
    expect(page.get_by_test_id("bell-count")).to_have_text("1")
    expect(page.get_by_test_id("signoff-comment")).to_contain_text("Messe-Nachlauf")
    _shot(page, folder, "campaign", size)


@pytest.mark.parametrize("browser_locale", ["de-DE"])
@pytest.mark.parametrize("size", list(SIZES))
def test_the_import_page_lists_its_row_errors(
    page: Page, live_server, campaign, marketer, rep, settings, tmp_path, size
):
    settings.MEDIA_ROOT = tmp_path / "media"
    job = import_start(
        campaign=campaign,
        name="messe-scans.csv",
        data=SCANS.encode(),
        by=marketer,
        now=timezone.now(),
    )
    import_configure(
        job=job,
        mapping={
            "company": 0,
            "contact_name": 1,
            "email": 2,
            "street": 3,
            "postcode": 4,
            "city": 5,
            "received_at": 6,
        },
        received_on=None,
        on_duplicate="skip",
        consent_all=False,
        material_all=True,
        lawful_basis="contract",
    )
    import_run(job_id=job.pk)
    folder = _folder(tmp_path)
    page.set_viewport_size(dict(zip(("width", "height"), SIZES[size], strict=True)))
    _sign_in(page, live_server, marketer)
    page.goto(f"{live_server.url}/campaigns/imports/{job.pk}/")
    issues = page.get_by_test_id("import-issues")
    expect(issues).to_contain_text("keine Postanschrift")
    expect(issues).to_contain_text("„kaputt“")
    _shot(page, folder, "import", size)


@pytest.mark.parametrize("browser_locale", ["de-DE"])
@pytest.mark.parametrize("size", list(SIZES))
def test_the_form_has_no_material_chosen_in_advance(
    page: Page, live_server, team, rep, marketer, printed_brochure, tmp_path, size
):
    fair = CampaignFactory(
        name="Hannover Messe", owner=marketer, team=team, materials=[printed_brochure]
    )
    page.set_viewport_size(dict(zip(("width", "height"), SIZES[size], strict=True)))
    page.goto(f"{live_server.url}/f/{fair.form_key}/")
    expect(page.get_by_label("Katalog 2026 – per Post")).not_to_be_checked()
    expect(page.get_by_label("Kein Material, danke")).to_be_checked()
    _shot(page, _folder(tmp_path), "webform-material", size)
