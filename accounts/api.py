"""Teams and users, read-only: who follows up, for integrations that route or report."""

from django.db.models import Q
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from leadbridge.api.fields import ApiModelSerializer
from leadbridge.api.filters import StrictFilterSet

from .models import Role, Team, User


class TeamSerializer(ApiModelSerializer):
    class Meta:
        model = Team
        fields = ["id", "name", "region", "opens_at", "closes_at", "created_at", "updated_at"]
        read_only_fields = fields


class UserSerializer(ApiModelSerializer):
    class Meta:
        model = User
        fields = [
            "id",
            "username",
            "first_name",
            "last_name",
            "email",
            "role",
            "team",
            "is_active",
            "is_absent",
            "daily_capacity",
            "language",
        ]
        read_only_fields = fields


def teams_visible_to(user):
    """Reps and team leads see their own team; marketing and administrators all."""
    if user.is_superuser or user.role in {Role.ADMIN, Role.MARKETING}:
        return Team.objects.all()
    return Team.objects.filter(pk=user.team_id)


def users_visible_to(user):
    """Reps and team leads see their team's members (and themselves); others everyone."""
    if user.is_superuser or user.role in {Role.ADMIN, Role.MARKETING}:
        return User.objects.all()
    if user.team_id is None:
        return User.objects.filter(pk=user.pk)
    return User.objects.filter(Q(team_id=user.team_id) | Q(pk=user.pk))


class TeamViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = Team.objects.none()  # the model, for the schema; rows: get_queryset
    serializer_class = TeamSerializer
    lookup_value_regex = r"\d+"
    ordering_fields = ["id", "name"]
    ordering = ["name"]

    def get_queryset(self):
        return teams_visible_to(self.request.user)


class UserFilter(StrictFilterSet):
    class Meta:
        model = User
        fields = ["team", "role"]


class UserViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    queryset = User.objects.none()  # the model, for the schema; rows: get_queryset
    serializer_class = UserSerializer
    lookup_value_regex = r"\d+"
    filterset_class = UserFilter
    ordering_fields = ["id", "username"]
    ordering = ["username"]

    def get_queryset(self):
        return users_visible_to(self.request.user).select_related("team")

    @extend_schema(summary="The user the credentials belong to")
    @action(detail=False, pagination_class=None, filter_backends=[])
    def me(self, request):
        return Response(UserSerializer(request.user).data)
