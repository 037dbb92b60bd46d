"""A rep works the queue with real clicks: material, calls, decisions, qualifying, reassigning.

Rows change in place (htmx): `mark_document` / `assert_same_document` prove a click
did not reload the page. Deadlines are computed by the real services, so every
expected date is read back from the database rather than guessed.
"""

import re
from collections.abc import Callable, Iterator
from datetime import timedelta

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


def task_row(page: Page, followup: FollowUp) -> Locator:
    return page.locator(f"#followup-{followup.pk}")


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


def test_a_rep_posts_material_calls_twice_and_qualifies_the_lead_as_a_prospect(
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

    login(page, live_server, "rita", "pw")
    expect(page).to_have_url(path_is(live_server, "/queue/"))
    # Three weeks old: sending the material and the accept/reject are both overdue.
    expect(count(page, "overdue")).to_have_text("2")
    expect(count(page, "today")).to_have_text("0")
    expect(count(page, "upcoming")).to_have_text("0")
    row = task_row(page, material)
    expect(row.get_by_role("button", name="Send by email")).to_have_count(0)  # printed only
    mark_document(page)

    row.get_by_role("button", name="Posted").click()

    expect(row.get_by_role("status")).to_contain_text("Material sent. Call back by")
    expect(row.get_by_role("button")).to_have_count(0)
    expect(count(page, "overdue")).to_have_text("1")
    expect(count(page, "upcoming")).to_have_text("1")  # the call-back, three business days out
    expect(count(page, "today")).to_have_text("0")
    assert_same_document(page)
    expect(page).to_have_url(path_is(live_server, "/queue/"))
    first_call = open_followup(lead, FollowUp.Kind.CALLBACK)
    expect(row.get_by_role("status")).to_have_text(
        f"Material sent. Call back by {local(first_call.due_at)}."
    )

    page.get_by_role("link", name="My queue").click()
    call_row = task_row(page, first_call)
    mark_document(page)
    call_row.get_by_role("button", name="No answer").click()

    expect(call_row.get_by_role("status")).to_contain_text("Call logged. Next attempt by")
    assert_same_document(page)
    second_call = open_followup(lead, FollowUp.Kind.CALLBACK)
    assert second_call.pk != first_call.pk
    expect(call_row.get_by_role("status")).to_have_text(
        f"Call logged. Next attempt by {local(second_call.due_at)}."
    )

    page.get_by_role("link", name="My queue").click()
    expect(task_row(page, first_call)).to_have_count(0)  # done ones leave the queue
    call_row = task_row(page, second_call)
    call_row.get_by_role("button", name="Reached").click()
    expect(call_row.get_by_role("status")).to_have_text("Call logged.")

    call_row.get_by_role("link", name=str(lead)).click()
    expect(page).to_have_url(path_is(live_server, f"/leads/{lead.pk}/"))
    qualify = page.locator("form", has=page.get_by_role("heading", name="Qualify as prospect"))
    visit_at = timezone.localtime(timezone.now() + timedelta(days=7)).replace(
        hour=10, minute=0, second=0, microsecond=0
    )
    qualify.get_by_label("Next step").select_option(label="Visit")
    qualify.get_by_label("Date").fill(visit_at.strftime("%Y-%m-%dT%H:%M"))
    qualify.get_by_role("button", name="Qualify").click()

    expect(page.get_by_text("Qualified: the next step is booked.")).to_be_visible()
    expect(fact(page, "Stage")).to_have_text("Prospect (Interessent)")
    expect(page.get_by_role("heading", name="Qualify as prospect")).to_have_count(0)
    expect(entries(page, "Qualified")).to_contain_text(re.compile(r"Qualified · Rita Rep\s+Visit"))
    expect(entries(page, "Material sent")).to_contain_text("Rita Rep")
    calls = entries(page, "Call attempt")
    expect(calls).to_have_count(2)
    expect(calls.filter(has_text="No answer")).to_contain_text("Rita Rep")
    expect(calls.filter(has_text="Reached")).to_contain_text("Rita Rep")
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
    visit = open_followup(lead, FollowUp.Kind.NEXT_STEP)
    assert (visit.next_step, visit.due_at) == ("visit", visit_at)


def test_rejecting_from_the_queue_needs_a_reason_and_then_shows_on_the_lead_page(
    page: Page, live_server, campaign, rep
):
    lead = receive_lead(campaign=campaign, company="Zweifel GmbH")
    decision = open_followup(lead, FollowUp.Kind.DECISION)

    login(page, live_server, "rita", "pw")
    row = task_row(page, decision)
    mark_document(page)
    row.locator("summary", has_text="Reject").click()
    expect(row.get_by_label("Reason")).to_have_value("")  # no reason chosen for the rep
    row.get_by_role("button", name="Reject", exact=True).click()

    expect(row.get_by_role("alert")).to_have_text("Give a reason for the rejection.")
    expect(row.get_by_role("button", name="Accept")).to_be_visible()
    assert_same_document(page)
    lead.refresh_from_db()
    assert (lead.decision, lead.stage) == ("", Stage.LEAD)
    assert open_followup(lead, FollowUp.Kind.DECISION).pk == decision.pk
    assert not LeadEvent.objects.filter(lead=lead, kind=LeadEvent.Kind.REJECTED).exists()

    row.locator("summary", has_text="Reject").click()
    row.get_by_label("Reason").select_option(label="No budget")
    row.get_by_role("button", name="Reject", exact=True).click()

    expect(row.get_by_role("status")).to_have_text(
        "Lead rejected; marketing sees it for nurturing."
    )
    expect(row.get_by_role("alert")).to_have_count(0)
    assert_same_document(page)
    row.get_by_role("link", name=str(lead)).click()
    expect(fact(page, "Sales decision")).to_have_text("Rejected: No budget")
    expect(fact(page, "Stage")).to_have_text("Rejected by sales")
    expect(entries(page, "Rejected")).to_contain_text(
        re.compile(r"Rejected · Rita Rep\s+No budget")
    )
    expect(page.get_by_role("heading", name="Accept or reject")).to_have_count(0)


def test_accepting_from_the_queue_shows_on_the_lead_page(page: Page, live_server, campaign, rep):
    lead = receive_lead(campaign=campaign, company="Zusage AG")
    decision = open_followup(lead, FollowUp.Kind.DECISION)

    login(page, live_server, "rita", "pw")
    row = task_row(page, decision)
    mark_document(page)
    row.get_by_role("button", name="Accept").click()

    expect(row.get_by_role("status")).to_have_text("Lead accepted.")
    assert_same_document(page)
    row.get_by_role("link", name=str(lead)).click()
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
    expect(moved_rows).to_have_count(2)  # its call-back and its accept/reject
    for row in moved_rows.all():
        expect(row).to_contain_text("Sven Sales")

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
    row = task_row(page, call)
    row.get_by_role("button", name="Reached").dblclick()

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
    first_row = page.locator("tr.task").first
    expect(first_row).to_be_visible()
    followup = FollowUp.objects.get(pk=int(first_row.get_attribute("id").removeprefix("followup-")))
    assert followup.lead_id == lead.pk
    action = first_row.locator("td.actions button").first
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

    row = task_row(page, followup)
    expect(row.get_by_role("status")).to_be_visible()
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
    expect(page.locator("tr.task").first).to_be_visible()

    fits = page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    widths = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert fits, f"the page scrolls sideways: scrollWidth {widths[0]} > innerWidth {widths[1]}"
    # Every row can still be worked at this width.
    for row in page.locator("tr.task").all():
        expect(row.locator("td.actions button").first).to_be_visible()
