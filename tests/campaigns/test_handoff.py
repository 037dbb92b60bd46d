"""The handoff agreement: a sales team lead signs off the follow-up plan before launch."""

import pytest
from django.utils import timezone

from accounts.models import Role
from campaigns.models import Campaign, Channel
from campaigns.services import (
    CampaignError,
    CapacityCheck,
    campaign_activate,
    campaign_sign_off,
    campaign_update,
)

from ..factories import CampaignFactory, UserFactory


@pytest.fixture
def planned(team, marketer, rep, second_rep, next_monday):
    return CampaignFactory(
        name="Webinar Frühjahr",
        channel=Channel.WEBINAR,
        owner=marketer,
        team=team,
        status="planned",
        starts_on=next_monday,
        ends_on=next_monday,  # a one-day webinar: its leads all arrive that day
        expected_responses=20,
    )


@pytest.fixture
def admin(db):
    return UserFactory(username="ada", role=Role.ADMIN)


def test_the_team_lead_signs_off_and_the_numbers_seen_are_kept(planned, manager, team):
    now = timezone.now()
    campaign = campaign_sign_off(campaign=planned, by=manager, team=team, sla_policy=None, now=now)
    assert (campaign.signed_off_by, campaign.signed_off_at) == (manager, now)
    assert (
        campaign.signoff_check["capacity"] == 50 and campaign.signoff_check["overloaded"] is False
    )


def test_nobody_but_that_teams_lead_or_an_admin_signs_off(
    planned, team, marketer, rep, other_team, admin
):
    other_lead = UserFactory(username="olga", role=Role.MANAGER, team=other_team)
    for user in (marketer, rep, other_lead):
        with pytest.raises(CampaignError, match="Only the team lead of Vertrieb Süd"):
            campaign_sign_off(
                campaign=planned, by=user, team=team, sla_policy=None, now=timezone.now()
            )
    campaign_sign_off(campaign=planned, by=admin, team=team, sla_policy=None, now=timezone.now())


def test_signing_an_overloading_plan_needs_the_warning_acknowledged(planned, manager, team):
    planned.expected_responses = 500
    planned.save()
    with pytest.raises(CampaignError, match="confirm that you have seen the capacity warning"):
        campaign_sign_off(
            campaign=planned, by=manager, team=team, sla_policy=None, now=timezone.now()
        )
    campaign = campaign_sign_off(
        campaign=planned,
        by=manager,
        team=team,
        sla_policy=None,
        now=timezone.now(),
        warning_seen=True,
    )
    assert campaign.signoff_check["overloaded"] is True
    warning = CapacityCheck.from_dict(campaign.signoff_check).warning()
    assert warning.startswith("Expected 500 new leads on day 1")


def test_marketing_cannot_activate_an_unsigned_campaign_not_even_with_a_reason(planned, marketer):
    with pytest.raises(CampaignError, match="Sales has not signed off"):
        campaign_activate(campaign=planned, by=marketer, now=timezone.now())
    with pytest.raises(
        CampaignError, match="Only the team lead of the campaign.s team or an admin"
    ):
        campaign_activate(
            campaign=planned, by=marketer, now=timezone.now(), override_reason="Geht sofort live"
        )
    assert Campaign.objects.get(pk=planned.pk).status == "planned"


def test_an_override_is_possible_and_recorded(planned, admin):
    now = timezone.now()
    campaign = campaign_activate(
        campaign=planned, by=admin, now=now, override_reason="Teamleiter im Urlaub, Messe startet"
    )
    assert campaign.status == "active"
    assert (campaign.activated_by, campaign.activated_at) == (admin, now)
    assert campaign.activation_override_reason == "Teamleiter im Urlaub, Messe startet"
    assert not campaign.is_signed_off


def test_a_signed_campaign_is_activated_by_marketing(planned, manager, marketer, team):
    campaign_sign_off(campaign=planned, by=manager, team=team, sla_policy=None, now=timezone.now())
    campaign = campaign_activate(campaign=planned, by=marketer, now=timezone.now())
    assert campaign.status == "active" and campaign.activation_override_reason == ""
    with pytest.raises(CampaignError, match="Only a planned campaign"):
        campaign_activate(campaign=campaign, by=marketer, now=timezone.now())


def test_changing_the_plan_after_sign_off_withdraws_it_other_edits_do_not(
    planned, manager, marketer, team
):
    campaign_sign_off(campaign=planned, by=manager, team=team, sla_policy=None, now=timezone.now())
    campaign, withdrawn = campaign_update(
        campaign=planned, by=marketer, fields={"hypothesis": "Mehr Termine"}, materials=[]
    )
    assert not withdrawn and campaign.is_signed_off
    campaign, withdrawn = campaign_update(
        campaign=campaign, by=marketer, fields={"expected_responses": 400}, materials=[]
    )
    assert withdrawn and not campaign.is_signed_off and campaign.signoff_check == {}


# --- through the pages ----------------------------------------------------------------


def test_the_sign_off_page_shows_the_capacity_warning_with_numbers_and_signs(
    client, planned, manager
):
    planned.expected_responses = 200
    planned.save()
    client.force_login(manager)
    page = client.get(f"/campaigns/{planned.pk}/signoff/", HTTP_ACCEPT_LANGUAGE="en")
    html = page.content.decode()
    assert page.status_code == 200
    assert (
        f"Expected 200 new leads on day 1 ({planned.starts_on.day} {planned.starts_on:%b %Y}), capacity 50 per day."
        in html
    )

    refused = client.post(
        f"/campaigns/{planned.pk}/signoff/", {"team": planned.team.pk}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "confirm that you have seen the capacity warning" in refused.content.decode()
    signed = client.post(
        f"/campaigns/{planned.pk}/signoff/", {"team": planned.team.pk, "warning_seen": "on"}
    )
    assert signed.status_code == 302
    assert Campaign.objects.get(pk=planned.pk).signed_off_by == manager


def test_marketing_may_not_open_the_sign_off_page(client, planned, marketer):
    client.force_login(marketer)
    assert client.get(f"/campaigns/{planned.pk}/signoff/").status_code == 403


def test_the_activate_button_refuses_an_unsigned_campaign_with_a_message(client, planned, marketer):
    client.force_login(marketer)
    response = client.post(
        f"/campaigns/{planned.pk}/activate/", follow=True, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "Sales has not signed off the follow-up plan yet" in response.content.decode()
    assert Campaign.objects.get(pk=planned.pk).status == "planned"
