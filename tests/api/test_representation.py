"""The API serializers read model columns straight off the row (leadbridge.api.fields
.ColumnReadsMixin): the answer must be DRF's own, field for field and in order."""

from decimal import Decimal

import pytest
from django.utils import timezone
from rest_framework import serializers
from rest_framework.test import APIRequestFactory

from accounts.api import TeamSerializer, UserSerializer
from campaigns.api import CampaignSerializer, InfoMaterialSerializer
from followups.api import FollowUpSerializer
from followups.models import FollowUp
from integrations.api import (
    ApiTokenSerializer,
    WebhookDeliverySerializer,
    WebhookSubscriptionSerializer,
)
from integrations.models import Event, WebhookDelivery, WebhookSubscription
from integrations.services import token_create
from leads.api import LeadIntakeResultSerializer, LeadSerializer
from leads.models import Decision, Lead, RejectReason

from ..factories import receive_lead

pytestmark = pytest.mark.django_db


def _drf(serializer, instance) -> dict:
    """What DRF's Serializer.to_representation answers, without the mixin."""
    return serializers.Serializer.to_representation(serializer, instance)


def _same_as_drf(serializer_class, *instances):
    request = APIRequestFactory().get("/api/v1/")
    serializer = serializer_class(context={"request": request})
    for instance in instances:
        ours, theirs = serializer.to_representation(instance), _drf(serializer, instance)
        assert ours == theirs
        assert list(ours) == list(theirs)
        assert [type(value) for value in ours.values()] == [type(v) for v in theirs.values()]


def test_leads_with_and_without_their_optional_columns(campaign, rep, manager):
    routed = receive_lead(campaign=campaign, requests_material=True, wants_call=True)
    bare = receive_lead(campaign=None, requests_material=False, company="", phone="")
    Lead.objects.filter(pk=routed.pk).update(
        decision=Decision.REJECTED,
        decision_reason=RejectReason.NO_NEED,
        decided_at=timezone.now(),
        decided_by=manager,
    )
    stored = Lead.objects.get(pk=routed.pk)
    assert stored.owner_id and stored.team_id and stored.requested_material_id
    assert bare.campaign_id is None and bare.requested_material_id is None
    _same_as_drf(LeadSerializer, stored, bare, routed)
    routed.intake = "created"
    _same_as_drf(LeadIntakeResultSerializer, routed)


def test_follow_ups_campaigns_materials_teams_and_users(campaign, rep, team, printed_brochure):
    lead = receive_lead(campaign=campaign, requests_material=True)
    followups = list(FollowUp.objects.filter(lead=lead))
    followups[0].completed_at, followups[0].completed_by = timezone.now(), rep
    _same_as_drf(FollowUpSerializer, *followups)
    campaign.budget = Decimal("1200.50")
    _same_as_drf(CampaignSerializer, campaign)
    _same_as_drf(InfoMaterialSerializer, printed_brochure)
    _same_as_drf(TeamSerializer, team)
    _same_as_drf(UserSerializer, rep)


def test_tokens_webhook_subscriptions_and_deliveries(campaign, rep):
    token = token_create(user=rep, name="Messe-App").token
    revoked = token_create(user=rep, name="alt", scopes=["read"]).token
    revoked.revoked_at = timezone.now()
    _same_as_drf(ApiTokenSerializer, token, revoked)
    subscription = WebhookSubscription.objects.create(
        user=rep, name="CRM", url="https://crm.example.com/hook", events=[Event.LEAD_CREATED]
    )
    _same_as_drf(WebhookSubscriptionSerializer, subscription)
    lead = receive_lead(campaign=campaign)  # its lead.created delivery is queued
    sent = WebhookDelivery.objects.get(subscription=subscription, lead=lead)
    sent.delivered_at, sent.response_code, sent.attempts = timezone.now(), 204, 1
    pending = WebhookDelivery.objects.create(
        subscription=subscription,
        event=Event.LEAD_CREATED,
        subject="lead:0",
        occurred_at=timezone.now(),
    )
    _same_as_drf(WebhookDeliverySerializer, sent, pending)
