"""V1 and V5: a team lead signs off and activates only their own team's campaigns."""

import pytest
from django.utils import timezone

from campaigns import services
from campaigns.models import Campaign

from ..factories import CampaignFactory


@pytest.mark.django_db
def test_another_teams_lead_cannot_sign_an_active_campaign_over_to_their_team(
    client, campaign, other_manager, other_team
):
    assert campaign.status == Campaign.Status.ACTIVE and campaign.team.name == "Vertrieb Süd"
    client.force_login(other_manager)
    response = client.post(
        f"/campaigns/{campaign.pk}/signoff/", {"team": other_team.pk, "warning_seen": "on"}
    )
    assert response.status_code == 403
    campaign.refresh_from_db()
    assert campaign.team.name == "Vertrieb Süd" and campaign.signed_off_at is None
    assert client.get(f"/campaigns/{campaign.pk}/signoff/").status_code == 403


@pytest.mark.django_db
def test_the_sign_off_service_refuses_another_teams_lead_too(campaign, other_manager, other_team):
    with pytest.raises(services.CampaignError):
        services.campaign_sign_off(
            campaign=campaign,
            by=other_manager,
            team=other_team,
            sla_policy=None,
            now=timezone.now(),
            warning_seen=True,
        )
    campaign.refresh_from_db()
    assert campaign.team.name == "Vertrieb Süd"


@pytest.mark.django_db
def test_the_own_team_lead_signs_off_and_a_campaign_without_a_team_is_open_to_any(
    client, campaign, manager, other_manager, other_team, marketer
):
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.PLANNED)
    client.force_login(manager)
    response = client.post(
        f"/campaigns/{campaign.pk}/signoff/", {"team": campaign.team_id, "warning_seen": "on"}
    )
    assert response.status_code == 302
    assert Campaign.objects.get(pk=campaign.pk).signed_off_by == manager
    unclaimed = CampaignFactory(owner=marketer, team=None, status=Campaign.Status.PLANNED)
    client.force_login(other_manager)
    response = client.post(
        f"/campaigns/{unclaimed.pk}/signoff/", {"team": other_team.pk, "warning_seen": "on"}
    )
    assert response.status_code == 302
    unclaimed.refresh_from_db()
    assert (unclaimed.team, unclaimed.signed_off_by) == (other_team, other_manager)


@pytest.mark.django_db
def test_another_teams_lead_cannot_activate_with_an_override_reason(
    client, campaign, other_manager, manager
):
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.PLANNED)
    client.force_login(other_manager)
    response = client.post(
        f"/campaigns/{campaign.pk}/activate/", {"override_reason": "the fair starts tomorrow"}
    )
    assert response.status_code == 403
    assert Campaign.objects.get(pk=campaign.pk).status == Campaign.Status.PLANNED
    with pytest.raises(services.CampaignError):
        services.campaign_activate(
            campaign=campaign, by=other_manager, now=timezone.now(), override_reason="because"
        )
    # The campaign's own team lead may, with the reason recorded.
    client.force_login(manager)
    client.post(f"/campaigns/{campaign.pk}/activate/", {"override_reason": "fair tomorrow"})
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.ACTIVE
    assert campaign.activation_override_reason == "fair tomorrow"


@pytest.mark.django_db
def test_the_campaign_page_offers_sign_off_and_override_only_to_whom_they_belong(
    client, campaign, other_manager, manager
):
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.PLANNED)
    client.force_login(other_manager)
    page = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert f"/campaigns/{campaign.pk}/signoff/" not in page
    assert f"/campaigns/{campaign.pk}/activate/" not in page
    client.force_login(manager)
    page = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert f"/campaigns/{campaign.pk}/signoff/" in page
    assert f"/campaigns/{campaign.pk}/activate/" in page
