from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from followups.models import Escalation, FollowUp, Notification
from followups.services import notification_emails_send, sweep_overdue

from ..factories import receive_lead


@pytest.mark.django_db
def test_three_week_old_printed_request_is_escalated_and_manager_told_once(campaign, rep, manager, second_rep):
    now = timezone.now()
    lead = receive_lead(campaign=campaign, received_at=now - timedelta(weeks=3), requests_material=True)
    material = lead.followups.get(kind=FollowUp.Kind.MATERIAL)
    assert material.assignee is not None

    first = sweep_overdue(now=now)
    second = sweep_overdue(now=now)

    material.refresh_from_db()
    assert material.escalation_level >= 2
    assert first.overdue >= 1 and second.overdue == second.escalated == second.reassigned == 0
    assert Escalation.objects.filter(followup=material, level=2).count() == 1
    told = Notification.objects.filter(recipient=manager, followup=material, kind="escalated")
    assert told.count() == 1
    notification_emails_send(now=now)
    notification_emails_send(now=now)
    to_manager = [m for m in mail.outbox if manager.email in m.to and "Katalog" not in m.subject]
    assert len([m for m in to_manager if str(lead) in m.body]) >= 1
    assert len({m.subject + m.body for m in to_manager}) == len(to_manager)
