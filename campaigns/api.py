"""Campaigns and their info material: read by everyone, written by marketing and admins."""

from django.utils.translation import gettext_lazy as _
from rest_framework import mixins, serializers, viewsets

from integrations.fields import ApiModelSerializer, StrictPrimaryKeyRelatedField
from integrations.filters import IdFilter, StrictFilterSet
from integrations.models import Scope
from integrations.permissions import CampaignEditors

from .models import Campaign, InfoMaterial


class InfoMaterialSerializer(ApiModelSerializer):
    class Meta:
        model = InfoMaterial
        fields = ["id", "title", "kind", "url", "file", "description", "created_at", "updated_at"]
        read_only_fields = ["id", "file", "created_at", "updated_at"]


class CampaignSerializer(ApiModelSerializer):
    materials = StrictPrimaryKeyRelatedField(
        queryset=InfoMaterial.objects.all(), many=True, required=False
    )

    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "channel",
            "owner",
            "status",
            "starts_on",
            "ends_on",
            "budget",
            "expected_responses",
            "materials",
            "hypothesis",
            "team",
            "sla_policy",
            "signed_off_at",
            "consent_text",
            "form_key",
            "created_at",
            "updated_at",
        ]
        # Status moves through sign-off and activation (the campaign page), not a field write.
        read_only_fields = [
            "id",
            "owner",
            "status",
            "sla_policy",
            "signed_off_at",
            "form_key",
            "created_at",
            "updated_at",
        ]

    def validate(self, attrs):
        starts_on = attrs.get("starts_on", getattr(self.instance, "starts_on", None))
        ends_on = attrs.get("ends_on", getattr(self.instance, "ends_on", None))
        if starts_on and ends_on and ends_on < starts_on:
            raise serializers.ValidationError(
                {"ends_on": _("The campaign cannot end before it starts.")}
            )
        return attrs


class CampaignFilter(StrictFilterSet):
    class Meta:
        model = Campaign
        fields = ["status", "channel", "team", "owner"]


class CampaignViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    queryset = Campaign.objects.none()  # the model, for the schema; rows: get_queryset
    serializer_class = CampaignSerializer
    lookup_value_regex = r"\d+"
    filterset_class = CampaignFilter
    permission_classes = [*viewsets.GenericViewSet.permission_classes, CampaignEditors]
    write_scope = Scope.CAMPAIGNS_WRITE
    ordering_fields = ["id", "starts_on", "created_at"]
    ordering = ["-id"]

    def get_queryset(self):
        return Campaign.objects.select_related("owner", "team").prefetch_related("materials")

    def perform_create(self, serializer):
        serializer.save(owner=self.request.user)


class InfoMaterialFilter(StrictFilterSet):
    campaign = IdFilter(field_name="campaigns", label=_("Offered by this campaign"))

    class Meta:
        model = InfoMaterial
        fields = ["kind"]


class InfoMaterialViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = InfoMaterialSerializer
    lookup_value_regex = r"\d+"
    filterset_class = InfoMaterialFilter
    permission_classes = [*viewsets.GenericViewSet.permission_classes, CampaignEditors]
    write_scope = Scope.CAMPAIGNS_WRITE
    queryset = InfoMaterial.objects.all()
    ordering_fields = ["id", "title", "created_at"]
    ordering = ["-id"]
