"""Follow-ups over the API: the list an integration polls, and the actions that close them.

Each action calls the same service as the queue's buttons; a second click or a
second rep gets 409, as in the UI; marketing gets 403; another team's 404.
"""

from __future__ import annotations

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import mixins, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.response import Response

from leadbridge.api.errors import Conflict
from leadbridge.api.fields import (
    ApiModelSerializer,
    ApiSerializer,
    OffsetDateTimeField,
    StrictBooleanField,
    StrictCharField,
)
from leadbridge.api.filters import IdFilter, MomentFilter, StrictFilterSet
from leads.models import Decision, RejectReason
from leads.services import LeadChanged, lead_decide, lead_qualify

from .models import FollowUp
from .services import (
    CallOutcome,
    FollowUpAlreadyDone,
    call_log,
    followup_complete,
    material_dispatch,
)

STATES = [
    ("open", _("Open, not overdue yet")),
    ("overdue", _("Open and past its overdue point")),
    ("done", _("Completed")),
]


class SalesActions(BasePermission):
    """Marketing sees follow-ups but does not log sales actions (as in the UI: 403)."""

    message = _("Marketing does not log sales actions.")

    def has_permission(self, request, view):
        return request.method in SAFE_METHODS or not request.user.is_marketing


class FollowUpSerializer(ApiModelSerializer):
    state = serializers.SerializerMethodField(help_text=_("open, overdue or done, as of now."))
    next_step = serializers.ChoiceField(
        choices=FollowUp.NextStep.choices, allow_blank=True, read_only=True
    )

    class Meta:
        model = FollowUp
        fields = [
            "id",
            "lead",
            "kind",
            "next_step",
            "assignee",
            "due_at",
            "overdue_at",
            "completed_at",
            "completed_by",
            "outcome",
            "note",
            "attempts",
            "state",
            "escalation_level",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=STATES))
    def get_state(self, followup: FollowUp) -> str:
        return followup.state(self.context.get("now") or timezone.now())


class FollowUpFilter(StrictFilterSet):
    state = filters.ChoiceFilter(choices=STATES, method="filter_state")
    due_before = MomentFilter(field_name="due_at", lookup_expr="lt")
    due_after = MomentFilter(field_name="due_at", lookup_expr="gte")
    campaign = IdFilter(field_name="lead__campaign")

    class Meta:
        model = FollowUp
        fields = ["lead", "kind", "assignee", "escalation_level"]

    def filter_state(self, queryset, name, value):
        now = timezone.now()
        if value == "done":
            return queryset.filter(completed_at__isnull=False)
        if value == "overdue":
            return queryset.filter(completed_at__isnull=True, overdue_at__lte=now)
        return queryset.filter(completed_at__isnull=True, overdue_at__gt=now)


class DispatchSerializer(ApiSerializer):
    postal = StrictBooleanField(
        default=False, help_text=_("True when posted; false when emailed (sent from LeadBridge).")
    )


class CallSerializer(ApiSerializer):
    outcome = serializers.ChoiceField(choices=CallOutcome.CHOICES)
    call_back_at = OffsetDateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text=_("For call_later: the agreed time."),
    )
    note = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")

    def validate(self, attrs):
        if attrs["outcome"] == CallOutcome.CALL_LATER:
            when = attrs.get("call_back_at")
            if when is None:
                raise ValidationError({"call_back_at": _("Say when to call back.")})
            if when <= self.context["now"]:
                raise ValidationError(
                    {"call_back_at": _("The call-back time must be in the future.")}
                )
        return attrs


class QualifySerializer(ApiSerializer):
    next_step = serializers.ChoiceField(choices=FollowUp.NextStep.choices)
    due_at = OffsetDateTimeField(help_text=_("The agreed date of the next step."))
    note = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")

    def validate_due_at(self, value):
        if value <= self.context["now"]:
            raise ValidationError(_("The date must be in the future."))
        return value


class AcceptSerializer(ApiSerializer):
    note = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")


class RejectSerializer(ApiSerializer):
    reason = serializers.ChoiceField(choices=RejectReason.choices)
    note = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")

    def validate(self, attrs):
        if attrs["reason"] == RejectReason.OTHER and not attrs.get("note", "").strip():
            raise ValidationError({"note": _("Say why in the note.")})
        return attrs


class CompleteSerializer(ApiSerializer):
    note = StrictCharField(max_length=2000, required=False, allow_blank=True, default="")


class ActionResultSerializer(serializers.Serializer):
    followup = FollowUpSerializer(help_text=_("The follow-up acted on, as it is now."))
    next_followup = FollowUpSerializer(
        allow_null=True,
        help_text=_("What was booked as a result (a call-back, a next step), if anything."),
    )


def _action_schema(summary: str, request, description: str = ""):
    return extend_schema(
        summary=summary,
        request=request,
        responses={200: ActionResultSerializer},
        description=description,
    )


class FollowUpViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Follow-ups of the leads the user may see (reps and team leads: their team's)."""

    queryset = FollowUp.objects.none()  # the model, for the schema; rows: get_queryset
    serializer_class = FollowUpSerializer
    lookup_value_regex = r"\d+"
    filterset_class = FollowUpFilter
    permission_classes = [*viewsets.GenericViewSet.permission_classes, SalesActions]
    ordering_fields = ["id", "due_at", "overdue_at", "created_at"]
    ordering = ["-id"]

    def get_queryset(self):
        return FollowUp.objects.visible_to(self.request.user).select_related(
            "lead", "lead__team", "lead__requested_material", "lead__campaign", "policy"
        )

    def get_serializer_context(self):
        return {**super().get_serializer_context(), "now": timezone.now()}

    def _act(self, request, serializer_class, run):
        followup = self.get_object()
        now = timezone.now()
        serializer = serializer_class(data=request.data, context={"now": now})
        serializer.is_valid(raise_exception=True)
        try:
            booked = run(followup, now, serializer.validated_data)
        except FollowUpAlreadyDone:
            raise Conflict(_("This was already done by someone else.")) from None
        except LeadChanged as exc:
            raise Conflict(str(exc)) from None
        except ValueError as exc:
            raise ValidationError({"non_field_errors": str(exc)}) from None
        followup.refresh_from_db()
        context = {"now": now}
        return Response(
            {
                "followup": FollowUpSerializer(followup, context=context).data,
                "next_followup": FollowUpSerializer(booked, context=context).data
                if isinstance(booked, FollowUp)
                else None,
            }
        )

    @_action_schema(
        "Record the material as sent",
        DispatchSerializer,
        "On a send-material follow-up. Emailed material is sent by LeadBridge; the call-back "
        "clock starts now and the booked call-back is returned.",
    )
    # Named so, not "dispatch": that is APIView's request entry point.
    @action(
        detail=True, methods=["post"], url_path="dispatch", url_name="dispatch", filter_backends=[]
    )
    def send_material(self, request, pk=None):
        return self._act(
            request,
            DispatchSerializer,
            lambda f, now, data: material_dispatch(
                followup=f, by=request.user, at=now, postal=data["postal"]
            ),
        )

    @_action_schema(
        "Log a call attempt",
        CallSerializer,
        "On a call-back follow-up: reached closes it; no_answer books the next attempt; "
        "call_later books one at call_back_at; wrong_number makes the lead unreachable.",
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def call(self, request, pk=None):
        return self._act(
            request,
            CallSerializer,
            lambda f, now, data: call_log(followup=f, by=request.user, at=now, **data),
        )

    @_action_schema(
        "Qualify the lead",
        QualifySerializer,
        "The lead becomes a prospect with an agreed next step; its open call-back closes.",
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def qualify(self, request, pk=None):
        return self._act(
            request,
            QualifySerializer,
            lambda f, now, data: lead_qualify(lead=f.lead, by=request.user, at=now, **data),
        )

    @_action_schema("Accept the lead", AcceptSerializer, "Sales accepts the follow-up's lead.")
    @action(detail=True, methods=["post"], filter_backends=[])
    def accept(self, request, pk=None):
        return self._act(
            request,
            AcceptSerializer,
            lambda f, now, data: lead_decide(
                lead=f.lead, by=request.user, at=now, decision=Decision.ACCEPTED, note=data["note"]
            ),
        )

    @_action_schema(
        "Reject the lead",
        RejectSerializer,
        "With a reason (other needs a note); the lead goes back to marketing and all its "
        "open follow-ups close.",
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def reject(self, request, pk=None):
        return self._act(
            request,
            RejectSerializer,
            lambda f, now, data: lead_decide(
                lead=f.lead,
                by=request.user,
                at=now,
                decision=Decision.REJECTED,
                reason=data["reason"],
                note=data["note"],
            ),
        )

    @_action_schema(
        "Mark a next step done", CompleteSerializer, "Visit held, sample sent, offer made."
    )
    @action(detail=True, methods=["post"], filter_backends=[])
    def complete(self, request, pk=None):
        def run(followup, now, data):
            if followup.kind != FollowUp.Kind.NEXT_STEP:
                raise ValueError(
                    str(_("Only a next step is marked done; use this follow-up's own action."))
                )
            return followup_complete(
                followup=followup, by=request.user, at=now, outcome="done", note=data["note"]
            )

        return self._act(request, CompleteSerializer, run)
