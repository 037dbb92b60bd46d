"""Tokens and webhooks over the API: what an integration needs to set itself up."""

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.validators import URLValidator
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import Throttled, ValidationError
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from leadbridge.api.errors import Conflict
from leadbridge.api.fields import (
    ApiModelSerializer,
    ApiSerializer,
    OffsetDateTimeField,
    StrictCharField,
)
from leadbridge.api.filters import StrictFilterSet

from .models import (
    DEFAULT_SCOPES,
    SUBSCRIBABLE_EVENTS,
    ApiToken,
    Integration,
    Scope,
    WebhookDelivery,
    WebhookSubscription,
)
from .netguard import validate_public_url
from .services import (
    INTEGRATION_ROLES,
    integration_token_create,
    token_create,
    token_revoke,
    webhook_delivery_retry,
    webhook_ping,
    webhook_secret_rotate,
    webhook_subscription_create,
)


class TokenRequestSerializer(ApiSerializer):
    username = StrictCharField(max_length=150)
    password = StrictCharField(
        max_length=128, trim_whitespace=False, style={"input_type": "password"}
    )
    name = StrictCharField(
        max_length=100,
        required=False,
        help_text=_("Which integration uses it; default: “API token”."),
    )
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=Scope.choices),
        required=False,
        min_length=1,
        help_text=_("Default: read, leads:write and webhooks."),
    )


class ApiTokenSerializer(ApiModelSerializer):
    class Meta:
        model = ApiToken
        fields = [
            "id",
            "name",
            "prefix",
            "scopes",
            "user",
            "created_at",
            "last_used_at",
            "revoked_at",
            "expires_at",
        ]
        read_only_fields = fields


class NewTokenSerializer(ApiTokenSerializer):
    key = serializers.CharField(
        read_only=True,
        help_text=_(
            "Shown this once: send it as `Authorization: Token <key>`. Only its hash is kept."
        ),
    )

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "key"]
        read_only_fields = fields


class TokenObtainView(APIView):
    """Exchange a username and password for a new API token (the first step of an integration)."""

    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_scope = "auth"

    @extend_schema(
        summary="Get an API token",
        request=TokenRequestSerializer,
        responses={201: NewTokenSerializer},
        auth=[],
    )
    def post(self, request):
        serializer = TokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        user = authenticate(request, username=data["username"], password=data["password"])
        if getattr(request, "axes_locked_out", False):
            # django-axes locked this username for this address (too many wrong passwords).
            raise Throttled(
                wait=settings.AXES_COOLOFF_TIME.total_seconds(),
                detail=str(_("Too many failed log-ins for this user from your address.")),
            )
        if user is None or not user.is_active:
            raise ValidationError({"password": _("Unknown username or wrong password.")})
        made = token_create(
            user=user,
            name=data.get("name") or str(_("API token")),
            scopes=data.get("scopes") or list(DEFAULT_SCOPES),
        )
        made.token.key = made.key
        return Response(NewTokenSerializer(made.token).data, status=status.HTTP_201_CREATED)


class ApiTokenViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """The user's own tokens (never their keys)."""

    queryset = ApiToken.objects.none()  # the model, for the schema; rows: get_queryset
    serializer_class = ApiTokenSerializer
    lookup_value_regex = r"\d+"
    # Revoking only takes access away, so any token of the user may do it.
    write_scope = Scope.READ
    ordering_fields = ["id", "created_at"]
    ordering = ["-id"]

    def get_queryset(self):
        return ApiToken.objects.filter(user=self.request.user)

    @extend_schema(summary="Revoke a token", request=None, responses={200: ApiTokenSerializer})
    @action(detail=True, methods=["post"], filter_backends=[])
    def revoke(self, request, pk=None):
        token = self.get_object()
        token_revoke(token=token, now=timezone.now())
        token.refresh_from_db()
        return Response(ApiTokenSerializer(token).data)


_webhook_url = URLValidator(schemes=["http", "https"])


class WebhookSubscriptionSerializer(ApiModelSerializer):
    events = serializers.ListField(
        child=serializers.ChoiceField(choices=SUBSCRIBABLE_EVENTS),
        min_length=1,
        max_length=len(SUBSCRIBABLE_EVENTS),
    )

    class Meta:
        model = WebhookSubscription
        fields = ["id", "name", "url", "events", "is_active", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        extra_kwargs = {"url": {"validators": [_webhook_url, validate_public_url]}}

    def validate_events(self, value):
        return list(dict.fromkeys(value))


class NewWebhookSubscriptionSerializer(WebhookSubscriptionSerializer):
    secret = serializers.CharField(
        read_only=True,
        help_text=_("Shown this once: verify each delivery's LeadBridge-Signature with it."),
    )

    class Meta(WebhookSubscriptionSerializer.Meta):
        fields = [*WebhookSubscriptionSerializer.Meta.fields, "secret"]


class WebhookDeliverySerializer(ApiModelSerializer):
    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "subscription",
            "event",
            "event_id",
            "lead",
            "followup",
            "occurred_at",
            "status",
            "attempts",
            "next_attempt_at",
            "last_attempt_at",
            "delivered_at",
            "response_code",
            "last_error",
            "created_at",
        ]
        read_only_fields = fields


class RotatedSecretSerializer(NewWebhookSubscriptionSerializer):
    previous_secret_until = serializers.DateTimeField(
        read_only=True,
        help_text=_("Until then each delivery carries a second v1 signature, by the old secret."),
    )

    class Meta(NewWebhookSubscriptionSerializer.Meta):
        fields = [*NewWebhookSubscriptionSerializer.Meta.fields, "previous_secret_until"]


class WebhookSubscriptionViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """The user's webhook subscriptions: events about leads the user may see."""

    queryset = WebhookSubscription.objects.none()  # the model, for the schema; rows: get_queryset
    serializer_class = WebhookSubscriptionSerializer
    lookup_value_regex = r"\d+"
    write_scope = Scope.WEBHOOKS
    ordering_fields = ["id", "created_at"]
    ordering = ["-id"]

    def get_queryset(self):
        return WebhookSubscription.objects.filter(user=self.request.user)

    @extend_schema(
        request=WebhookSubscriptionSerializer, responses={201: NewWebhookSubscriptionSerializer}
    )
    def create(self, request, *args, **kwargs):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        subscription = webhook_subscription_create(
            user=request.user, name=data["name"], url=data["url"], events=data["events"]
        )
        if data.get("is_active") is False:
            WebhookSubscription.objects.filter(pk=subscription.pk).update(is_active=False)
            subscription.is_active = False
        return Response(
            NewWebhookSubscriptionSerializer(subscription).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        summary="Send a test delivery (event ping) through the signed delivery path",
        request=None,
        responses={201: WebhookDeliverySerializer},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def ping(self, request, pk=None):
        subscription = self.get_object()
        if not subscription.is_active:
            raise Conflict(_("Switch the subscription on first: inactive ones get no deliveries."))
        delivery = webhook_ping(subscription=subscription, now=timezone.now())
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Rotate the signing secret (the old one signs too for 24 hours)",
        request=None,
        responses={200: RotatedSecretSerializer},
    )
    @action(detail=True, methods=["post"], url_path="rotate-secret", filter_backends=[])
    def rotate_secret(self, request, pk=None):
        subscription = webhook_secret_rotate(subscription=self.get_object(), now=timezone.now())
        return Response(RotatedSecretSerializer(subscription).data)


class WebhookDeliveryFilter(StrictFilterSet):
    class Meta:
        model = WebhookDelivery
        fields = ["subscription", "status", "event", "lead", "followup"]


class WebhookDeliveryViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Deliveries of the user's subscriptions, with their status: what was sent, what failed."""

    queryset = WebhookDelivery.objects.none()  # the model, for the schema; rows: get_queryset
    serializer_class = WebhookDeliverySerializer
    lookup_value_regex = r"\d+"
    filterset_class = WebhookDeliveryFilter
    write_scope = Scope.WEBHOOKS
    ordering_fields = ["id", "created_at"]
    ordering = ["-id"]

    def get_queryset(self):
        return WebhookDelivery.objects.filter(subscription__user=self.request.user)

    @extend_schema(
        summary="Send again at the next tick (failed or waiting deliveries)",
        request=None,
        responses={200: WebhookDeliverySerializer},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def retry(self, request, pk=None):
        delivery = self.get_object()
        if not webhook_delivery_retry(delivery=delivery, now=timezone.now()):
            raise Conflict(_("Only failed or waiting deliveries are sent again."))
        delivery.refresh_from_db()
        return Response(WebhookDeliverySerializer(delivery).data)


class IntegrationTokenRequestSerializer(ApiSerializer):
    name = StrictCharField(
        max_length=100,
        help_text=_("The integration, e.g. “ERP”: a second token for a known name rotates keys."),
    )
    role = serializers.ChoiceField(
        choices=[(role.value, role.label) for role in INTEGRATION_ROLES],
        required=False,
        default=INTEGRATION_ROLES[0],
        help_text=_("What the integration sees and may do, as this role (when first made)."),
    )
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=Scope.choices), min_length=1, max_length=10
    )
    expires_at = OffsetDateTimeField(help_text=_("After this moment the token answers 401."))


class IntegrationTokenSerializer(ApiTokenSerializer):
    integration = serializers.CharField(source="user.integration.name", read_only=True)

    class Meta(ApiTokenSerializer.Meta):
        fields = [*ApiTokenSerializer.Meta.fields, "integration"]
        read_only_fields = fields


class NewIntegrationTokenSerializer(IntegrationTokenSerializer):
    key = serializers.CharField(
        read_only=True,
        help_text=_(
            "Shown this once: send it as `Authorization: Token <key>`. Only its hash is kept."
        ),
    )

    class Meta(IntegrationTokenSerializer.Meta):
        fields = [*IntegrationTokenSerializer.Meta.fields, "key"]
        read_only_fields = fields


class Administrators(BasePermission):
    message = _("Only administrators manage integration tokens.")

    def has_permission(self, request, view):
        return request.user.is_admin_role


class IntegrationTokenViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    """Tokens of integrations (service accounts, not people), with scopes and an expiry."""

    queryset = ApiToken.objects.none()  # the model, for the schema; rows: get_queryset
    serializer_class = IntegrationTokenSerializer
    permission_classes = [*api_settings.DEFAULT_PERMISSION_CLASSES, Administrators]
    lookup_value_regex = r"\d+"
    write_scope = Scope.TOKENS
    ordering_fields = ["id", "created_at"]
    ordering = ["-id"]

    def get_queryset(self):
        return ApiToken.objects.filter(user__in=Integration.objects.values("user")).select_related(
            "user__integration"
        )

    @extend_schema(
        summary="Make a token for an integration (administrators)",
        request=IntegrationTokenRequestSerializer,
        responses={201: NewIntegrationTokenSerializer},
    )
    def create(self, request, *args, **kwargs):
        serializer = IntegrationTokenRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        now = timezone.now()
        if data["expires_at"] <= now:
            raise ValidationError({"expires_at": _("Give a moment in the future.")})
        made = integration_token_create(
            name=data["name"],
            role=data["role"],
            scopes=list(dict.fromkeys(data["scopes"])),
            expires_at=data["expires_at"],
            by=request.user,
            now=now,
        )
        made.token.key = made.key
        return Response(
            NewIntegrationTokenSerializer(made.token).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(
        summary="Revoke an integration's token",
        request=None,
        responses={200: IntegrationTokenSerializer},
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def revoke(self, request, pk=None):
        token = self.get_object()
        token_revoke(token=token, now=timezone.now())
        token.refresh_from_db()
        return Response(IntegrationTokenSerializer(token).data)
