"""A rep works the queue with real clicks: material, calls, decisions, qualifying, reassigning.

The queue has one row per lead (its next due task first, the others behind "more
tasks"). Rows change in place (htmx): `mark_document` / `assert_same_document` prove a
click did not reload the page. Deadlines are computed by the real services, so every
expected date is read back from the database rather than guessed. At desktop and phone
sizes the queue and the lead page must not scroll sideways; German screenshots of both
go to $LEADBRIDGE_SCREENSHOTS when set (else the test's tmp folder).
"""

import os
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Browser, Locator, Page, expect

from followups.models import FollowUp
from leads.models import Lead, LeadEvent, Stage

from ..factories import receive_lead
from .conftest import TIMEOUT_MS, login, path_is

THREE_WEEKS_AGO = timedelta(weeks=3)


@pytest.fixture
def new_page(browser: Browser, browser_locale: str) -> Iterator[Callable[..., Page]]:
    """Pages in fresh browser contexts: a second user, or another viewport."""
    contexts = []

    def open_page(**options) -> Page:
        context = browser.new_context(locale=browser_locale, timezone_id="Europe/Berlin", **options)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


def open_followup(lead: Lead, kind: str) -> FollowUp:
    return FollowUp.objects.get(lead=lead, kind=kind, completed_at__isnull=True)


def lead_row(page: Page, lead: Lead) -> Locator:
    return page.locator(f"#lead-{lead.pk}")


def task(page: Page, followup: FollowUp) -> Locator:
    return page.locator(f"#followup-{followup.pk}")


def open_more_tasks(row: Locator) -> None:
    """Open the row's "more tasks" disclosure (its tasks load on opening)."""
    row.locator("details.more-tasks > summary").click()
    expect(row.locator(".more-tasks-body .task").first).to_be_visible()


def assert_no_sideways_scrolling(page: Page) -> None:
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], (
        f"the page scrolls sideways: scrollWidth {widths[0]} > {widths[1]}"
    )


def count(page: Page, section: str) -> Locator:
    return page.get_by_test_id(f"count-{section}")


def local(moment) -> str:
    """A datetime as the row messages print it (English: 7 Dec 2026 14:06)."""
    return f"{timezone.localtime(moment):%-d %b %Y %H:%M}"


def mark_document(page: Page) -> None:
    page.evaluate("window.__marker = 'same document'")


def assert_same_document(page: Page) -> None:
    assert page.evaluate("window.__marker") == "same document", "the click reloaded the page"


def open_queue(page: Page, live_server, *, landing: str) -> None:
    """After login: wait for the role's landing page, then go to the queue (a team lead
    lands on the dashboard, whose state is not what these journeys are about)."""
    expect(page).to_have_url(path_is(live_server, landing))
    if landing != "/queue/":
        page.goto(f"{live_server.url}/queue/")


def timeline(page: Page) -> Locator:
    return page.locator("ol.timeline > li")


def entries(page: Page, label: str) -> Locator:
    """Timeline entries whose label (the bold part) is exactly `label`."""
    return timeline(page).filter(
        has=page.locator("strong", has_text=re.compile(rf"^{re.escape(label)}$"))
    )


def fact(page: Page, term: str) -> Locator:
    """The <dd> next to a <dt> of the lead's facts."""
    return page.locator("dt", has_text=re.compile(rf"^{re.escape(term)}$")).locator(
        "xpath=following-sibling::dd[1]"
    )


def test_a_rep_posts_material_calls_twice_and_qualifies_the_lead_in_the_queue(
    page: Page, live_server, campaign, rep
):
    lead = receive_lead(
        campaign=campaign,
        company="Druckhaus Weber KG",
        requests_material=True,
        received_at=timezone.now() - THREE_WEEKS_AGO,
    )
    assert lead.requested_material.is_printed
    material = open_followup(lead, FollowUp.Kind.MATERIAL)
    decision = open_followup(lead, FollowUp.Kind.DECISION)

    login(page, live_server, "rita", "pw")
    expect(page).to_have_url(path_is(live_server, "/queue/"))
    # Three weeks old: sending the material and the accept/reject are both overdue,
    # and the lead is one row, its next due task (the material) first.
    expect(count(page, "overdue")).to_have_text("1")
    expect(count(page, "today")).to_have_text("0")
    expect(count(page, "upcoming")).to_have_text("0")
    row = lead_row(page, lead)
    expect(page.locator("tr.lead-row")).to_have_count(1)
    expect(row.locator(".task-head")).to_have_attribute("id", f"followup-{material.pk}")
    expect(row.get_by_role("button", name="Send by email")).to_have_count(0)  # printed only
    mark_document(page)

    row.get_by_role("button", name="Posted").click()

    expect(row.get_by_role("status")).to_contain_text("Material sent. Call back by")
    assert_same_document(page)
    # The whole row again: the accept/reject is next, the new call-back behind it.
    expect(row.locator(".task-head")).to_have_attribute("id", f"followup-{decision.pk}")
    expect(row).to_be_focused()  # focus stays with the row, not the page
    expect(count(page, "overdue")).to_have_text("1")
    first_call = open_followup(lead, FollowUp.Kind.CALLBACK)
    expect(row.get_by_role("status")).to_have_text(
        f"Material sent. Call back by {local(first_call.due_at)}."
    )
    open_more_tasks(row)
    call = task(page, first_call)
    call.get_by_role("button", name="No answer").click()

    expect(row.get_by_role("status")).to_contain_text("Call logged. Next attempt by")
    assert_same_document(page)
    second_call = open_followup(lead, FollowUp.Kind.CALLBACK)
    assert second_call.pk != first_call.pk
    expect(row.get_by_role("status")).to_have_text(
        f"Call logged. Next attempt by {local(second_call.due_at)}."
    )
    call = task(page, second_call)
    expect(call).to_be_visible()  # the booked attempt is in the same row, open
    call.locator("summary", has_text="Reached").click()
    call.get_by_label("Result").select_option(label="Interested")
    call.get_by_label("Note").fill("Möchte einen Besuch")
    call.get_by_role("button", name="Save call").click()

    expect(row.get_by_role("status")).to_have_text("Call logged.")
    prompt = row.locator(".next-step-prompt")
    expect(prompt.get_by_label("Next step")).to_be_focused()  # the next step is asked for
    visit_at = timezone.localtime(timezone.now() + timedelta(days=7)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    prompt.get_by_label("Next step").select_option(label="Visit")
    prompt.get_by_label("Date").fill(visit_at.strftime("%Y-%m-%dT%H:%M"))
    prompt.get_by_role("button", name="Qualify and book").click()

    expect(row.get_by_role("status")).to_have_text("Qualified: the next step is booked.")
    assert_same_document(page)
    visit = open_followup(lead, FollowUp.Kind.NEXT_STEP)
    assert (visit.next_step, visit.due_at) == ("visit", visit_at)

    row.get_by_role("link", name=str(lead)).click()
    expect(page).to_have_url(path_is(live_server, f"/leads/{lead.pk}/"))
    expect(fact(page, "Stage")).to_have_text("Prospect (Interessent)")
    expect(page.get_by_role("heading", name="Qualify as prospect")).to_have_count(0)
    expect(entries(page, "Qualified")).to_contain_text(re.compile(r"Qualified · Rita Rep\s+Visit"))
    expect(entries(page, "Material sent")).to_contain_text("Rita Rep")
    calls = entries(page, "Call attempt")
    expect(calls).to_have_count(2)
    expect(calls.filter(has_text="No answer")).to_contain_text("Rita Rep")
    expect(calls.filter(has_text="Reached")).to_contain_text("Interested")
    expect(calls.filter(has_text="Reached")).to_contain_text("Möchte einen Besuch")
    # Newest first: qualified, reached, no answer, material sent.
    texts = timeline(page).all_inner_texts()
    position = [
        next(i for i, text in enumerate(texts) if all(part in text for part in parts))
        for parts in (
            ["Qualified"],
            ["Call attempt", "Reached"],
            ["Call attempt", "No answer"],
            ["Material sent"],
        )
    ]
    assert position == sorted(position), texts


def test_rejecting_from_the_queue_needs_a_reason_and_then_closes_the_whole_row(
    page: Page, live_server, campaign, rep
):
    lead = receive_lead(campaign=campaign, company="Zweifel GmbH")
    decision = open_followup(lead, FollowUp.Kind.DECISION)
    callback = open_followup(lead, FollowUp.Kind.CALLBACK)

    login(page, live_server, "rita", "pw")
    row = lead_row(page, lead)
    expect(row.locator(".task-head")).to_have_attribute("id", f"followup-{decision.pk}")
    mark_document(page)
    row.locator("summary", has_text="Reject").click()
    expect(row.get_by_label("Reason")).to_have_value("")  # no reason chosen for the rep
    row.get_by_role("button", name="Reject", exact=True).click()

    # The panel stays open with the error at the field, and focus on it.
    expect(row.locator(".field-error")).to_have_text("Give a reason for the rejection.")
    expect(row.get_by_label("Reason")).to_be_visible()
    expect(row.get_by_label("Reason")).to_be_focused()
    expect(row.get_by_role("button", name="Accept")).to_be_visible()
    assert_same_document(page)
    lead.refresh_from_db()
    assert (lead.decision, lead.stage) == ("", Stage.LEAD)
    assert open_followup(lead, FollowUp.Kind.DECISION).pk == decision.pk
    assert not LeadEvent.objects.filter(lead=lead, kind=LeadEvent.Kind.REJECTED).exists()

    row.get_by_label("Reason").select_option(label="No budget")
    row.get_by_role("button", name="Reject", exact=True).click()

    expect(row.get_by_role("status")).to_have_text(
        "Lead rejected; marketing sees it for nurturing."
    )
    expect(row.get_by_role("alert")).to_have_count(0)
    # Rejecting closed the call-back too: no live button is left in the lead's row.
    expect(row.get_by_role("button")).to_have_count(0)
    expect(page.locator(f"#followup-{callback.pk}")).to_have_count(0)
    assert_same_document(page)
    row.get_by_role("link", name=str(lead)).click()
    expect(fact(page, "Sales decision")).to_have_text("Rejected: No budget")
    expect(fact(page, "Stage")).to_have_text("Rejected by sales")
    expect(entries(page, "Rejected")).to_contain_text(
        re.compile(r"Rejected · Rita Rep\s+No budget")
    )
    expect(page.get_by_role("heading", name="Accept or reject")).to_have_count(0)


def test_accepting_from_the_lead_page_updates_its_open_follow_ups(
    page: Page, live_server, campaign, rep
):
    lead = receive_lead(campaign=campaign, company="Zusage AG", phone="+49 89 555")

    login(page, live_server, "rita", "pw")
    lead_row(page, lead).get_by_role("link", name=str(lead)).click()
    expect(page.get_by_role("link", name="+49 89 555").first).to_have_attribute(
        "href", "tel:+49 89 555"
    )
    tasks = page.locator(".lead-tasks")
    mark_document(page)
    tasks.get_by_role("button", name="Accept").click()

    expect(tasks.get_by_role("status")).to_have_text("Lead accepted.")
    expect(tasks.get_by_role("button", name="Accept")).to_have_count(0)
    expect(tasks.get_by_role("button", name="No answer")).to_be_visible()  # the call-back
    assert_same_document(page)
    page.reload()
    expect(fact(page, "Sales decision")).to_have_text("Accepted")
    expect(fact(page, "Stage")).to_have_text("Lead")
    expect(entries(page, "Accepted")).to_contain_text("Accepted · Rita Rep")


def test_a_team_lead_reassigns_a_lead_from_the_queue_and_the_other_rep_finds_it(
    page: Page, new_page, live_server, campaign, rep, second_rep, manager
):
    moving = receive_lead(campaign=campaign, company="Umzug GmbH")
    staying = receive_lead(campaign=campaign, company="Bleibt KG")
    assert (moving.owner, staying.owner) == (rep, second_rep)  # round robin

    login(page, live_server, "mara", "pw")
    open_queue(page, live_server, landing="/dashboard/")
    expect(page.get_by_role("heading", name="Team follow-up queue")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="Umzug GmbH").first).to_contain_text("Rita Rep")
    page.get_by_role("checkbox", name=f"Select {moving}").first.check()
    page.get_by_label("Reassign the ticked leads to").select_option(label="Sven Sales")
    page.get_by_role("button", name="Reassign").click()

    expect(page.get_by_text("1 lead(s) reassigned to Sven Sales.")).to_be_visible()
    moved_rows = page.get_by_role("row").filter(has_text="Umzug GmbH")
    expect(moved_rows).to_have_count(1)  # one row per lead
    expect(moved_rows).to_contain_text("Sven Sales")

    sven = new_page()
    login(sven, live_server, "sven", "pw")
    expect(sven).to_have_url(path_is(live_server, "/queue/"))
    sven.get_by_role("link", name=str(moving)).first.click()
    expect(fact(sven, "Owner")).to_contain_text("Sven Sales")
    handed_over = entries(sven, "Assigned").filter(has_text="Mara Manager")
    expect(handed_over).to_have_count(1)
    expect(handed_over).to_contain_text("→ Sven Sales")
    assert not FollowUp.objects.open().filter(lead=moving, assignee=rep).exists()


def test_a_double_click_on_reached_logs_one_call_attempt(page: Page, live_server, campaign, rep):
    lead = receive_lead(campaign=campaign, company="Doppelklick GmbH")
    call = open_followup(lead, FollowUp.Kind.CALLBACK)
    posts = []
    page.on(
        "request", lambda request: posts.append(request.url) if request.method == "POST" else None
    )

    login(page, live_server, "rita", "pw")
    row = lead_row(page, lead)
    open_more_tasks(row)
    task(page, call).locator("summary", has_text="Reached").click()
    task(page, call).get_by_role("button", name="Save call").dblclick()

    expect(row.get_by_role("status")).to_have_text("Call logged.")
    expect(row.get_by_role("alert")).to_have_count(0)
    call_posts = [url for url in posts if url.endswith(f"/followups/{call.pk}/call/")]
    assert len(call_posts) == 1, call_posts
    assert LeadEvent.objects.filter(lead=lead, kind=LeadEvent.Kind.CALL_ATTEMPT).count() == 1
    call.refresh_from_db()
    assert (call.outcome, call.attempts) == ("reached", 1)


def test_the_keyboard_reaches_the_first_rows_action_with_visible_focus_and_enter_runs_it(
    page: Page, live_server, campaign, rep
):
    lead = receive_lead(campaign=campaign, company="Tastatur GmbH", requests_material=True)

    login(page, live_server, "rita", "pw")
    first_row = page.locator("tr.lead-row").first
    expect(first_row).to_be_visible()
    assert first_row.get_attribute("id") == f"lead-{lead.pk}"
    head = first_row.locator(".task-head")
    followup = FollowUp.objects.get(pk=int(head.get_attribute("id").removeprefix("followup-")))
    action = head.locator("button").first
    label = action.inner_text()

    for _tab in range(40):
        page.keyboard.press("Tab")
        if action.evaluate("button => button === document.activeElement"):
            break
    else:
        pytest.fail(f"Tab never reached the first row's {label!r} button")
    assert action.evaluate("button => button.matches(':focus-visible')")
    assert action.evaluate("button => getComputedStyle(button).outlineStyle") != "none"
    mark_document(page)

    page.keyboard.press("Enter")

    row = lead_row(page, lead)
    expect(row.get_by_role("status")).to_be_visible()
    expect(row).to_be_focused()
    assert_same_document(page)
    followup.refresh_from_db()
    assert followup.completed_at is not None, f"Enter on {label!r} did nothing"


@pytest.mark.parametrize(("username", "landing"), [("rita", "/queue/"), ("mara", "/dashboard/")])
def test_the_queue_fits_a_tablet_without_horizontal_scrolling(
    new_page, live_server, campaign, rep, second_rep, manager, username, landing
):
    old = timezone.now() - THREE_WEEKS_AGO
    receive_lead(
        campaign=campaign,
        company="Internationale Sondermaschinenbau-Gesellschaft mbH & Co. KG",
        requests_material=True,
        received_at=old,
        phone="+49 89 123456789",
    )
    receive_lead(campaign=campaign, company="Rückruf Werkzeugbau GmbH", received_at=old)
    receive_lead(campaign=campaign, company="Heute Anlagenbau AG", requests_material=True)
    receive_lead(campaign=campaign, company="Morgen Logistik GmbH")
    page = new_page(viewport={"width": 820, "height": 1180})

    login(page, live_server, username, "pw")
    open_queue(page, live_server, landing=landing)
    expect(page.locator("tr.lead-row").first).to_be_visible()

    assert_no_sideways_scrolling(page)
    # Every row can still be worked at this width.
    for row in page.locator("tr.lead-row").all():
        expect(row.locator(".task-head button, .task-head summary").first).to_be_visible()


@pytest.mark.parametrize("browser_locale", ["de-DE"])
@pytest.mark.parametrize(("size", "viewport"), [("desktop", (1366, 900)), ("phone", (390, 844))])
def test_a_rep_works_the_queue_and_the_lead_page_on_desktop_and_phone_without_sideways_scrolling(
    new_page, live_server, campaign, rep, tmp_path, size, viewport
):
    old = timezone.now() - THREE_WEEKS_AGO
    long_name = receive_lead(
        campaign=campaign,
        company="Internationale Sondermaschinenbau-Gesellschaft mbH & Co. KG",
        requests_material=True,
        received_at=old,
        phone="+49 89 123456789",
        email="einkauf.sondermaschinenbau@example-industrie.de",
    )
    receive_lead(campaign=campaign, company="Rückruf Werkzeugbau GmbH", received_at=old)
    receive_lead(campaign=campaign, company="Heute Anlagenbau AG", requests_material=True)
    receive_lead(campaign=campaign, company="Morgen Logistik GmbH", phone="+49 30 987654")
    width, height = viewport
    page = new_page(viewport={"width": width, "height": height})
    folder = Path(os.environ.get("LEADBRIDGE_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)

    page.goto(f"{live_server.url}/login/")
    page.locator("input[name=username]").fill("rita")
    page.locator("input[name=password]").fill("pw")
    page.locator("form button[type=submit]").last.click()
    expect(page).to_have_url(path_is(live_server, "/queue/"))
    row = lead_row(page, long_name)
    expect(row).to_be_visible()
    assert_no_sideways_scrolling(page)
    page.screenshot(path=str(folder / f"queue-rep-de-{size}-{width}x{height}.png"), full_page=True)

    # Work the first row from here: its next action is on screen and answers in place.
    head = row.locator(".task-head")
    action = head.get_by_role("button", name="Per Post versendet")
    expect(action).to_be_in_viewport()
    mark_document(page)
    action.click()
    expect(row.get_by_role("status")).to_contain_text("Material versendet")
    expect(row).to_be_focused()
    assert_same_document(page)
    open_more_tasks(row)
    assert_no_sideways_scrolling(page)
    call = task(page, open_followup(long_name, FollowUp.Kind.CALLBACK))
    call.locator("summary", has_text="Erreicht").click()
    expect(call.get_by_label("Notiz")).to_be_visible()
    assert_no_sideways_scrolling(page)
    page.screenshot(
        path=str(folder / f"queue-rep-row-open-de-{size}-{width}x{height}.png"), full_page=True
    )

    row.get_by_role("link", name=str(long_name)).click()
    expect(page).to_have_url(path_is(live_server, f"/leads/{long_name.pk}/"))
    expect(page.locator(".lead-tasks .task").first).to_be_visible()
    expect(page.locator("a[href='tel:+49 89 123456789']").first).to_be_visible()
    expect(page.locator("a[href^='mailto:']").first).to_be_visible()
    assert_no_sideways_scrolling(page)
    page.screenshot(path=str(folder / f"lead-rep-de-{size}-{width}x{height}.png"), full_page=True)

    # The skip link is the first stop of the keyboard and leads to the content.
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Zum Inhalt springen")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
