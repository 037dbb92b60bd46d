"""The sign-off step: marketing asks, the team lead signs or sends the plan back with a
comment, and each time the other side hears of it (bell and email)."""

from datetime import datetime

import pytest
import time_machine
from django.core import mail
from django.utils import timezone

from accounts.models import Role
from campaigns.models import Campaign, Channel
from campaigns.services import (
    CampaignError,
    campaign_sign_off,
    campaign_sign_off_request,
    campaign_sign_off_return,
    campaign_update,
    plan_deadlines,
)
from followups.models import Notification
from followups.notifications import notification_emails_send
from followups.tasks import send_notification_emails_task
from leadbridge.calendar import TZ

from ..factories import CampaignFactory, InfoMaterialFactory, UserFactory


@pytest.fixture
def planned(team, marketer, rep, second_rep, manager, next_monday):
    return CampaignFactory(
        name="Webinar Frühjahr",
        channel=Channel.WEBINAR,
        owner=marketer,
        team=team,
        status="planned",
        starts_on=next_monday,
        ends_on=next_monday,
        expected_responses=20,
    )


def _emails_to(user) -> list:
    return [m for m in mail.outbox if m.to == [user.email]]


def test_asking_for_the_sign_off_tells_the_team_lead_by_bell_and_email(
    planned, marketer, manager, django_capture_on_commit_callbacks
):
    now = timezone.now()
    with django_capture_on_commit_callbacks() as callbacks:
        campaign_sign_off_request(campaign=planned, by=marketer, now=now)
    # The email task, queued once the request is committed (the team lead hears at once).
    queued = [getattr(getattr(cb, "__self__", None), "name", "") for cb in callbacks]
    assert send_notification_emails_task.name in queued

    planned.refresh_from_db()
    assert planned.signoff_state == "requested" and planned.signoff_requested_by == marketer
    [bell] = Notification.objects.filter(recipient=manager)
    assert (bell.kind, bell.campaign, bell.read_at) == ("signoff_requested", planned, None)
    assert not Notification.objects.exclude(recipient=manager).exists()

    assert notification_emails_send(now=now) == 1
    [email] = _emails_to(manager)
    assert "Webinar Frühjahr" in email.subject
    assert f"/campaigns/{planned.pk}/" in email.body


def test_signing_off_tells_marketing_by_bell_and_email(planned, marketer, manager, team):
    now = timezone.now()
    campaign_sign_off_request(campaign=planned, by=marketer, now=now)
    campaign_sign_off(campaign=planned, by=manager, team=team, sla_policy=None, now=now)

    planned.refresh_from_db()
    assert planned.signoff_state == "signed" and planned.signoff_requested_at is None
    [bell] = Notification.objects.filter(recipient=marketer)
    assert (bell.kind, bell.campaign) == ("signed_off", planned)
    notification_emails_send(now=now)
    [email] = _emails_to(marketer)
    assert "Webinar Frühjahr" in email.subject


def test_sending_back_needs_a_comment_and_marketing_reads_it_in_bell_email_and_page(
    client, planned, marketer, manager
):
    now = timezone.now()
    campaign_sign_off_request(campaign=planned, by=marketer, now=now)
    with pytest.raises(CampaignError):
        campaign_sign_off_return(campaign=planned, by=manager, comment="  ", now=now)

    client.force_login(manager)
    response = client.post(
        f"/campaigns/{planned.pk}/signoff/return/",
        {"comment": "Bitte zwei Wochen später starten: Messe-Nachlauf."},
    )
    assert response.status_code == 302

    planned.refresh_from_db()
    assert planned.signoff_state == "returned"
    assert planned.signoff_comment == "Bitte zwei Wochen später starten: Messe-Nachlauf."
    [bell] = Notification.objects.filter(recipient=marketer)
    assert bell.kind == "signoff_returned" and bell.note == planned.signoff_comment
    notification_emails_send(now=now)
    [email] = _emails_to(marketer)
    assert "Bitte zwei Wochen später starten: Messe-Nachlauf." in email.body

    client.force_login(marketer)
    page = client.get(f"/campaigns/{planned.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'data-testid="signoff-comment"' in page and "Messe-Nachlauf" in page
    assert "Ask for the sign-off again" in page
    bells = client.get("/notifications/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f'href="/campaigns/{planned.pk}/"' in bells and "Messe-Nachlauf" in bells


def test_marketing_asks_through_the_campaign_page(client, planned, marketer, manager):
    client.force_login(marketer)
    page = client.get(f"/campaigns/{planned.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Ask the team lead for the sign-off" in page
    response = client.post(
        f"/campaigns/{planned.pk}/signoff/request/", follow=True, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "the team lead of Vertrieb Süd was notified" in response.content.decode()
    assert Notification.objects.filter(recipient=manager, kind="signoff_requested").exists()


def test_only_marketing_asks_and_only_for_a_planned_campaign_with_a_team(
    planned, marketer, manager, rep
):
    now = timezone.now()
    for outsider in (manager, rep):
        with pytest.raises(CampaignError):
            campaign_sign_off_request(campaign=planned, by=outsider, now=now)
    no_team = CampaignFactory(owner=marketer, status="planned", team=None)
    with pytest.raises(CampaignError, match="Choose the team"):
        campaign_sign_off_request(campaign=no_team, by=marketer, now=now)
    planned.status = Campaign.Status.ACTIVE
    planned.save()
    with pytest.raises(CampaignError):
        campaign_sign_off_request(campaign=planned, by=marketer, now=now)
    assert not Notification.objects.exists()


def test_another_teams_lead_cannot_send_the_plan_back(client, planned, marketer, other_team):
    stranger = UserFactory(username="nils", role=Role.MANAGER, team=other_team)
    client.force_login(stranger)
    response = client.post(f"/campaigns/{planned.pk}/signoff/return/", {"comment": "nein"})
    assert response.status_code == 403
    planned.refresh_from_db()
    assert planned.signoff_state == "open" and not Notification.objects.exists()


def test_a_plan_change_after_sign_off_withdraws_it_and_marketing_asks_again(
    planned, marketer, manager, team
):
    now = timezone.now()
    campaign_sign_off_request(campaign=planned, by=marketer, now=now)
    campaign_sign_off(campaign=planned, by=manager, team=team, sla_policy=None, now=now)
    _campaign, withdrawn = campaign_update(
        campaign=planned, by=marketer, fields={"expected_responses": 200}
    )
    planned.refresh_from_db()
    assert withdrawn and planned.signoff_state == "open"


@time_machine.travel(datetime(2026, 12, 7, 10, 0, tzinfo=TZ), tick=False)  # a Monday
def test_the_sign_off_page_shows_the_deadlines_a_lead_arriving_now_gets(
    client, team, marketer, manager, printed_brochure
):
    """Computed by intake's own code: a lead received now gets exactly these."""
    from ..factories import receive_lead

    digital = InfoMaterialFactory(title="Whitepaper", kind="digital")
    fair = CampaignFactory(
        name="Messe",
        channel=Channel.TRADE_FAIR,
        owner=marketer,
        team=team,
        status="planned",
        starts_on=timezone.localdate(),
        materials=[printed_brochure, digital],
    )
    now = timezone.now()
    [printed, emailed, nothing] = plan_deadlines(campaign=fair, team=team, sla_policy=None, now=now)
    assert printed.material == printed_brochure and not printed.material_at_once
    assert emailed.material_at_once and nothing.material is None

    fair.status = "active"
    fair.save()
    lead = receive_lead(campaign=fair, requests_material=True, now=now, received_at=now)
    material = lead.followups.get(kind="material")
    assert material.due_at == printed.material_by
    assert lead.followups.get(kind="decision").due_at == printed.decision_by
    plain = receive_lead(campaign=fair, company="Ohne", now=now, received_at=now)
    assert plain.followups.get(kind="callback").due_at == nothing.call_by

    fair.status = "planned"
    fair.save()
    client.force_login(manager)
    page = client.get(f"/campaigns/{fair.pk}/signoff/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    section = page[page.index('data-testid="plan-deadlines"') :]
    due = timezone.localtime(printed.material_by)
    assert f"{due:%d.%m.} {due:%H:%M}" in section
    assert "Katalog 2026" in section and "Whitepaper" in section


def test_an_administrator_signing_their_own_request_is_not_told_what_they_did(
    planned, team, manager
):
    admin = UserFactory(username="ada", role=Role.ADMIN)
    now = timezone.now()
    campaign_sign_off_request(campaign=planned, by=admin, now=now)
    campaign_sign_off(campaign=planned, by=admin, team=team, sla_policy=None, now=now)
    assert list(Notification.objects.values_list("recipient__username", "kind")) == [
        ("mara", "signoff_requested")
    ]
