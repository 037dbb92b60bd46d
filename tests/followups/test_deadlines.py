"""Follow-ups get their deadlines from received_at and the SLA policy (PRODUCT.md defaults)."""

from datetime import datetime

import pytest

from campaigns.models import Channel, InfoMaterial
from followups.models import FollowUp, SlaPolicy
from followups.services import followups_recompute, material_dispatch
from leadbridge.calendar import TZ

from ..factories import InfoMaterialFactory, receive_lead

# Tuesday 17 Nov 2026, 10:00 in Munich; 19 Nov (Buß- und Bettag) is a holiday only in Saxony.
RECEIVED = datetime(2026, 11, 17, 10, 0, tzinfo=TZ)


def at(day, hour, minute=0):
    return datetime(2026, 11, day, hour, minute, tzinfo=TZ)


@pytest.mark.django_db
def test_printed_material_is_due_in_one_business_day_overdue_at_two_escalated_at_three(
    campaign, rep
):
    lead = receive_lead(campaign=campaign, received_at=RECEIVED, requests_material=True)
    material = lead.followups.get(kind=FollowUp.Kind.MATERIAL)
    assert (material.due_at, material.overdue_at) == (at(18, 10), at(19, 10))
    assert material.escalate_at == at(20, 10)
    assert material.reassign_at == at(23, 10)  # over the weekend
    assert material.warn_at == at(19, 8)  # two business hours before overdue
    assert material.assignee == rep
    assert not lead.followups.filter(kind=FollowUp.Kind.CALLBACK).exists()


@pytest.mark.django_db
def test_digital_material_is_due_at_once(campaign, rep):
    digital = InfoMaterialFactory(kind=InfoMaterial.Kind.DIGITAL)
    campaign.materials.set([digital])
    lead = receive_lead(campaign=campaign, received_at=RECEIVED, requests_material=True)
    material = lead.followups.get(kind=FollowUp.Kind.MATERIAL)
    assert material.due_at == material.overdue_at == RECEIVED


@pytest.mark.django_db
def test_a_web_enquiry_asking_for_a_call_is_due_within_one_business_hour(rep):
    lead = receive_lead(received_at=at(20, 16, 30), wants_call=True, channel=Channel.WEBSITE)
    callback = lead.followups.get(kind=FollowUp.Kind.CALLBACK)
    assert callback.due_at == at(23, 8, 30)


@pytest.mark.django_db
def test_every_lead_gets_an_accept_or_reject_deadline_of_one_business_day(campaign, rep):
    lead = receive_lead(campaign=campaign, received_at=at(20, 16, 30))
    decision = lead.followups.get(kind=FollowUp.Kind.DECISION)
    assert decision.due_at == at(23, 16, 30)


@pytest.mark.django_db
def test_the_call_back_clock_starts_when_the_material_is_dispatched(campaign, rep):
    lead = receive_lead(campaign=campaign, received_at=RECEIVED, requests_material=True)
    material = lead.followups.get(kind=FollowUp.Kind.MATERIAL)
    callback = material_dispatch(followup=material, by=rep, at=at(18, 15), postal=True)
    assert callback.kind == FollowUp.Kind.CALLBACK
    assert callback.starts_at == at(18, 15)
    assert callback.due_at == at(23, 15)  # three business days for postal material
    assert list(lead.events.values_list("kind", flat=True)).count("material_sent") == 1


@pytest.mark.django_db
def test_editing_a_policy_changes_no_running_deadline_until_recomputed_on_purpose(campaign, rep):
    lead = receive_lead(campaign=campaign, received_at=RECEIVED, requests_material=True)
    material = lead.followups.get(kind=FollowUp.Kind.MATERIAL)
    policy = material.policy
    policy.material_printed_due = "3d"
    policy.material_printed_overdue = "4d"
    policy.save()
    material.refresh_from_db()
    assert material.due_at == at(18, 10)

    assert followups_recompute(policy=policy, by=None, now=at(17, 12)) == 2
    material.refresh_from_db()
    assert (material.due_at, material.overdue_at) == (at(20, 10), at(23, 10))
    assert lead.events.filter(kind="recomputed").count() == 2


@pytest.mark.django_db
def test_a_campaign_policy_overrides_the_channel_policy(campaign, rep):
    campaign.sla_policy = SlaPolicy.objects.create(
        name="Messe schnell", material_printed_due="2h", material_printed_overdue="4h"
    )
    campaign.save()
    lead = receive_lead(campaign=campaign, received_at=RECEIVED, requests_material=True)
    material = lead.followups.get(kind=FollowUp.Kind.MATERIAL)
    assert (material.due_at, material.overdue_at) == (at(17, 12), at(17, 14))


@pytest.mark.django_db
def test_a_saxon_team_does_not_count_buss_und_bettag(campaign, rep):
    campaign.team.region = "DE-SN"
    campaign.team.save()
    lead = receive_lead(campaign=campaign, received_at=RECEIVED, requests_material=True)
    material = lead.followups.get(kind=FollowUp.Kind.MATERIAL)
    assert material.overdue_at == at(20, 10)


@pytest.mark.django_db
def test_a_website_lead_asking_for_material_and_a_call_gets_the_call_within_the_hour(rep):
    from campaigns.models import Channel
    from followups.services import material_dispatch

    lead = receive_lead(
        received_at=RECEIVED, wants_call=True, requests_material=True, channel=Channel.WEBSITE
    )
    callback = lead.followups.get(kind=FollowUp.Kind.CALLBACK)
    assert callback.due_at == at(17, 11)
    after = material_dispatch(
        followup=lead.followups.get(kind="material"), by=rep, at=at(17, 10, 30), postal=False
    )
    assert after == callback and lead.followups.filter(kind="callback").count() == 1
