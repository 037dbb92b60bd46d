"""Daily digest for reps and Monday summary for team leads: each once per day, however many ticks."""

from datetime import datetime, timedelta

import pytest
from django.core import mail

from followups.notifications import daily_digest_send
from leadbridge.calendar import TZ
from reporting.services import weekly_summary_send

from ..factories import receive_lead

MONDAY_7 = datetime(2026, 11, 23, 7, 0, tzinfo=TZ)


@pytest.mark.django_db
def test_the_daily_digest_lists_overdue_and_due_today_once_per_rep(campaign, rep):
    receive_lead(
        campaign=campaign,
        received_at=MONDAY_7 - timedelta(weeks=2),
        company="Alt GmbH",
        now=MONDAY_7,
    )
    assert daily_digest_send(now=MONDAY_7) == 1
    assert daily_digest_send(now=MONDAY_7 + timedelta(minutes=1)) == 0  # a doubled beat tick
    (message,) = mail.outbox
    assert message.to == [rep.email] and "Alt GmbH" in message.body


@pytest.mark.django_db
def test_the_weekly_summary_names_the_five_longest_overdue_once(campaign, rep, manager):
    for i in range(7):
        receive_lead(
            campaign=campaign,
            received_at=MONDAY_7 - timedelta(days=3 + i),
            company=f"Firma {i}",
            now=MONDAY_7,
        )
    assert weekly_summary_send(now=MONDAY_7) == 1
    assert weekly_summary_send(now=MONDAY_7) == 0
    (message,) = mail.outbox
    assert message.to == [manager.email]
    listed = [line for line in message.body.splitlines() if line.startswith("- ")]
    assert (
        len(listed) == 5 and "overdue since 17.11.2026 08:00" in listed[0]
    )  # the oldest deadline first
