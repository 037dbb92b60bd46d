"""V2: the sign-off holds for the plan it signed; changing the plan withdraws it, on the
campaign page and over the API alike, and says so."""

import pytest
from django.utils import timezone

from campaigns import services
from campaigns.models import Campaign
from integrations.models import Scope

from ..api.conftest import api_client


def _signed(campaign, manager, *, status=Campaign.Status.PLANNED) -> Campaign:
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.PLANNED)
    services.campaign_sign_off(
        campaign=campaign,
        by=manager,
        team=manager.team,
        sla_policy=None,
        now=timezone.now(),
        warning_seen=True,
    )
    Campaign.objects.filter(pk=campaign.pk).update(status=status)
    campaign.refresh_from_db()
    assert campaign.signed_off_at and campaign.signoff_check
    return campaign


@pytest.mark.django_db
def test_an_api_patch_of_team_and_expected_responses_withdraws_the_sign_off(
    campaign, manager, marketer, other_team
):
    campaign = _signed(campaign, manager)
    api = api_client(marketer, scopes=[Scope.READ, Scope.CAMPAIGNS_WRITE])
    answer = api.patch(
        f"/api/v1/campaigns/{campaign.pk}/",
        {"team": other_team.pk, "expected_responses": 100000},
        format="json",
    )
    assert answer.status_code == 200, answer.content
    body = answer.json()
    assert body["signed_off_at"] is None and body["signoff_withdrawn"] is True
    campaign.refresh_from_db()
    assert (campaign.team, campaign.expected_responses) == (other_team, 100000)
    assert campaign.signed_off_at is None and campaign.signed_off_by is None
    assert campaign.signoff_check == {}  # no capacity check of a plan nobody signed
    # Activating it now needs a team lead's override, as for any unsigned plan.
    with pytest.raises(services.CampaignError):
        services.campaign_activate(campaign=campaign, by=marketer, now=timezone.now())


@pytest.mark.django_db
def test_an_api_patch_outside_the_plan_keeps_the_sign_off(campaign, manager, marketer):
    campaign = _signed(campaign, manager)
    api = api_client(marketer, scopes=[Scope.READ, Scope.CAMPAIGNS_WRITE])
    answer = api.patch(
        f"/api/v1/campaigns/{campaign.pk}/", {"hypothesis": "more visits"}, format="json"
    )
    assert answer.status_code == 200 and answer.json()["signoff_withdrawn"] is False
    campaign.refresh_from_db()
    assert campaign.signed_off_at is not None and campaign.hypothesis == "more visits"


@pytest.mark.django_db
def test_an_api_patch_of_the_window_withdraws_the_sign_off_of_an_active_campaign(
    campaign, manager, marketer
):
    campaign = _signed(campaign, manager, status=Campaign.Status.ACTIVE)
    api = api_client(marketer, scopes=[Scope.READ, Scope.CAMPAIGNS_WRITE])
    ends_on = campaign.starts_on + timezone.timedelta(days=30)
    answer = api.patch(
        f"/api/v1/campaigns/{campaign.pk}/", {"ends_on": ends_on.isoformat()}, format="json"
    )
    assert answer.status_code == 200 and answer.json()["signoff_withdrawn"] is True
    campaign.refresh_from_db()
    assert campaign.signed_off_at is None and campaign.status == Campaign.Status.ACTIVE


@pytest.mark.django_db
def test_the_web_edit_of_an_active_campaigns_plan_withdraws_the_sign_off_and_says_so(
    client, campaign, manager, marketer
):
    campaign = _signed(campaign, manager, status=Campaign.Status.ACTIVE)
    client.force_login(marketer)
    form = client.get(f"/campaigns/{campaign.pk}/edit/").context["form"]
    data = {
        name: value
        for name, value in form.initial.items()
        if value is not None and name != "materials"
    }
    data["materials"] = [m.pk for m in campaign.materials.all()]
    data["expected_responses"] = 5000
    data["starts_on"] = campaign.starts_on.isoformat()
    response = client.post(
        f"/campaigns/{campaign.pk}/edit/", data, follow=True, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 200
    campaign.refresh_from_db()
    assert campaign.expected_responses == 5000
    assert campaign.signed_off_at is None and campaign.signoff_check == {}
    assert "the sign-off was withdrawn" in response.content.decode()
