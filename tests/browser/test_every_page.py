"""Every role's main pages in German, at desktop (1366×900) and phone (390×844) size:
axe-core finds no accessibility violation, the page needs no horizontal scrolling, and
a screenshot lands in SCREENSHOT_DIR (var/screenshots/ unless set) for a person to
look at; CI prints where.

axe-core is vendored from npm (tests/browser/vendor/axe-core-*.min.js, MPL-2.0) and
injected as an init script: it runs only here, never in a page the app serves, and
the Content-Security-Policy does not apply to init scripts.
"""

import os
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Browser

from accounts.models import Role
from leads.models import Lead

from ..factories import CampaignFactory, InfoMaterialFactory, UserFactory, receive_lead

AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js"
SCREENSHOT_DIR = Path(os.environ.get("SCREENSHOT_DIR") or settings.BASE_DIR / "var" / "screenshots")
VIEWPORTS = {"desktop": (1366, 900), "phone": (390, 844)}

# (role, page): the pages each role works on; the first one of a role is where it
# lands after logging in.
PAGES = [
    ("rep", "queue"),
    ("rep", "lead"),
    ("rep", "dashboard"),
    ("rep", "notifications"),
    ("rep", "lead_new"),
    ("manager", "dashboard"),
    ("manager", "queue"),
    ("manager", "lead"),
    ("manager", "signoffs"),
    ("manager", "signoff"),
    ("manager", "privacy"),
    ("marketing", "campaigns"),
    ("marketing", "campaign"),
    ("marketing", "lead"),
    ("marketing", "dashboard"),
    ("marketing", "campaign_new"),
    ("marketing", "import"),
    ("marketing", "nurture"),
    ("admin", "dashboard"),
    ("admin", "queue"),
    ("admin", "integrations"),
    ("admin", "privacy"),
]


@pytest.fixture
def world(team, rep, second_rep, manager, marketer):
    """A team at work: overdue, due and upcoming follow-ups with long names, a planned
    campaign waiting for sign-off, notifications from a sweep."""
    brochure = InfoMaterialFactory(title="Preisliste", kind="printed")
    fair = CampaignFactory(
        name="Hannover Messe 2026 – Halle 12, Stand B34 (Antriebstechnik)",
        owner=marketer,
        team=team,
        materials=[brochure],
        budget=4500,
        expected_responses=150,
    )
    planned = CampaignFactory(
        name="Webinar Retrofit",
        channel="webinar",
        owner=marketer,
        team=team,
        status="planned",
        starts_on=timezone.localdate() + timedelta(days=14),
        expected_responses=150,
    )
    now = timezone.now()
    leads = [
        receive_lead(
            campaign=fair,
            company=f"Präzisionsteile Großhandelsgesellschaft Süddeutschland {i} GmbH & Co. KG",
            contact_name="Dr. Friederike Müller-Lüdenscheidt",
            email=f"friederike.mueller-luedenscheidt{i}@praezisionsteile-grosshandel.example",
            phone="+49 (0) 8331 123456-789",
            requested_material=brochure,
            street="Industriestraße 112",
            postcode="87700",
            city="Memmingen",
            received_at=now - timedelta(days=days),
            now=now - timedelta(days=days),
        )
        for i, days in enumerate([9, 4, 1, 0])
    ]
    call_command("sweep_overdue", verbosity=0)
    admin = UserFactory(username="ada", role=Role.ADMIN, is_staff=True, is_superuser=True)
    users = {"rep": rep, "manager": manager, "marketing": marketer, "admin": admin}
    paths = {
        "queue": "/queue/",
        "lead": f"/leads/{leads[0].pk}/",
        "dashboard": "/dashboard/",
        "notifications": "/notifications/",
        "lead_new": "/campaigns/leads/new/",
        "signoffs": "/campaigns/?signoff=pending",
        "signoff": f"/campaigns/{planned.pk}/signoff/",
        "privacy": f"/privacy/?email={leads[0].email}",
        "campaigns": "/campaigns/",
        "campaign": f"/campaigns/{fair.pk}/",
        "campaign_new": "/campaigns/new/",
        "import": f"/campaigns/{fair.pk}/import/",
        "nurture": "/campaigns/nurturing/",
        "integrations": "/integrations/",
    }
    assert Lead.objects.count() == 4
    return users, paths


def _signed_in_page(browser: Browser, live_server, user, viewport: str):
    width, height = VIEWPORTS[viewport]
    context = browser.new_context(
        locale="de-DE",
        timezone_id="Europe/Berlin",
        viewport={"width": width, "height": height},
    )
    # The session of a real log-in, without typing it for every page (the log-in
    # form has journeys of its own).
    client = Client()
    client.force_login(user)
    context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )
    context.add_init_script(path=str(AXE))
    return context, context.new_page()


def _axe_violations(page) -> list[str]:
    result = page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
    return [
        f"{v['id']} ({v['impact']}): {v['help']} — "
        + "; ".join(node["target"][0] if node["target"] else "?" for node in v["nodes"][:5])
        for v in result["violations"]
    ]


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize(("role", "name"), PAGES, ids=[f"{r}-{p}" for r, p in PAGES])
def test_the_page_has_no_accessibility_violation_and_fits_the_screen(
    browser, live_server, world, role, name, viewport
):
    users, paths = world
    context, page = _signed_in_page(browser, live_server, users[role], viewport)
    try:
        response = page.goto(f"{live_server.url}{paths[name]}")
        assert response.status == 200, (paths[name], response.status)
        assert page.evaluate("document.documentElement.lang") == "de"
        page.wait_for_load_state("networkidle")
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=SCREENSHOT_DIR / f"{role}-{name}-{viewport}.png", full_page=True)

        assert _axe_violations(page) == []

        width = page.evaluate("document.documentElement.scrollWidth")
        inner = page.evaluate("window.innerWidth")
        assert width <= inner, f"{paths[name]} is {width} px wide at {inner} px"
    finally:
        context.close()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_the_login_page_and_the_public_form_pass_axe_and_fit(
    browser, live_server, campaign, viewport
):
    width, height = VIEWPORTS[viewport]
    context = browser.new_context(locale="de-DE", viewport={"width": width, "height": height})
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    try:
        for name, path in [("login", "/login/"), ("webform", f"/f/{campaign.form_key}/")]:
            page.goto(f"{live_server.url}{path}")
            page.wait_for_load_state("networkidle")
            SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=SCREENSHOT_DIR / f"public-{name}-{viewport}.png", full_page=True)
            assert _axe_violations(page) == [], path
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), path
    finally:
        context.close()
