"""A rep watches the queue while a deadline passes: the beat's sweep flags it, the bell
and the queue's badges say so at their next refresh, and the lead is under Overdue.

Server time moves with time-machine (the live server runs in this process); the
page's 20- and 30-second refreshes run on Playwright's fake clock: nobody waits.
"""

from datetime import timedelta

import time_machine
from django.utils import timezone
from playwright.sync_api import Page, expect

from followups.models import FollowUp
from followups.tasks import sweep_overdue_task

from ..factories import receive_lead
from .conftest import login


def test_a_follow_up_turns_overdue_in_the_queue_and_the_bell_within_a_minute_of_its_deadline(
    page: Page, live_server, campaign, rep, manager
):
    now = timezone.now()
    lead = receive_lead(campaign=campaign, company="Pünktlich GmbH", received_at=now)
    deadline = now + timedelta(minutes=2)
    # Its accept/reject follow-up falls due in two minutes; anything else much later.
    lead.followups.update(
        warn_at=now + timedelta(days=5),
        due_at=now + timedelta(days=5),
        overdue_at=now + timedelta(days=5),
        escalate_at=now + timedelta(days=9),
    )
    FollowUp.objects.filter(lead=lead, kind="decision").update(
        warn_at=deadline,
        due_at=deadline,
        overdue_at=deadline,
        escalate_at=deadline + timedelta(days=1),
    )

    page.clock.install()  # the page's polling timers run when the test says
    login(page, live_server, "rita", "pw")
    overdue = page.get_by_role("region", name="Overdue", exact=True)
    expect(page.get_by_test_id("bell-count")).to_have_text("0")
    expect(page.get_by_test_id("count-overdue")).to_have_text("0")
    expect(overdue.get_by_text("Pünktlich GmbH")).to_have_count(0)
    expect(page.get_by_role("link", name="Pünktlich GmbH").first).to_be_visible()

    # The deadline passes; beat's next tick (every 30 s) runs the sweep.
    with time_machine.travel(deadline + timedelta(seconds=20), tick=True):
        assert "flagged overdue 1" in sweep_overdue_task()
        # Within the minute: the bell polls every 20 s, the badges every 30 s.
        page.clock.run_for(30_000)
        expect(page.get_by_test_id("bell-count")).to_have_text("1")
        expect(page.get_by_test_id("count-overdue")).to_have_text("1")
        stale = page.get_by_role("status").filter(has_text="The queue has changed")
        stale.get_by_role("link").click()
        expect(overdue.get_by_role("link", name="Pünktlich GmbH").first).to_be_visible()

        page.get_by_test_id("bell-count").click()
        expect(page.get_by_text("Overdue").first).to_be_visible()
        expect(page.get_by_text("Pünktlich GmbH").first).to_be_visible()
