"""Campaigns and their info material: read by everyone, written by marketing and admins."""

from django.utils.translation import gettext_lazy as _
from rest_framework import mixins, serializers, viewsets
from rest_framework.permissions import SAFE_METHODS, BasePermission

from leadbridge.api.fields import ApiModelSerializer, StrictPrimaryKeyRelatedField
from leadbridge.api.filters import IdFilter, StrictFilterSet
from leadbridge.api.scopes import Scope

from .models import Campaign, InfoMaterial
from .services import campaign_create, campaign_update


class CampaignEditors(BasePermission):
    """Campaigns and info material are written by marketing and administrators."""

    message = _("Only marketing and administrators edit campaigns and info material.")

    def has_permission(self, request, view):
        user = request.user
        return request.method in SAFE_METHODS or user.is_marketing or user.is_admin_role


class InfoMaterialSerializer(ApiModelSerializer):
    class Meta:
        model = InfoMaterial
        fields = ["id", "title", "kind", "url", "file", "description", "created_at", "updated_at"]
        read_only_fields = ["id", "file", "created_at", "updated_at"]


class CampaignSerializer(ApiModelSerializer):
    materials = StrictPrimaryKeyRelatedField(
        queryset=InfoMaterial.objects.all(), many=True, required=False
    )
    signoff_withdrawn = serializers.SerializerMethodField(
        help_text=_(
            "True when this write changed the follow-up plan (team, channel, window, "
            "expected responses or SLA policy) and so withdrew sales' sign-off: the team "
            "lead signs the new plan again."
        )
    )

    def get_signoff_withdrawn(self, campaign) -> bool:
        return getattr(campaign, "signoff_withdrawn", False)

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
            "signoff_withdrawn",
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

    # Writes go through the services, as the campaign pages' do: an edit of the plan
    # withdraws the sign-off there (campaign_update), never past it.
    def perform_create(self, serializer):
        fields = dict(serializer.validated_data)
        materials = fields.pop("materials", [])
        serializer.instance = campaign_create(
            by=self.request.user, fields=fields, materials=materials
        )

    def perform_update(self, serializer):
        fields = dict(serializer.validated_data)
        materials = fields.pop("materials", None)
        campaign, withdrawn = campaign_update(
            campaign=serializer.instance, by=self.request.user, fields=fields, materials=materials
        )
        campaign.signoff_withdrawn = withdrawn
        serializer.instance = campaign


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
