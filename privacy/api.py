"""/api/v1/privacy/: a person's data on request, and their erasure (team leads, administrators)."""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from leadbridge.api.fields import (
    ApiSerializer,
    StrictCharField,
    StrictEmailField,
    StrictIntegerField,
)
from leadbridge.api.filters import single_valued
from leads.models import Lead

from . import services


class PrivacyOfficers(BasePermission):
    message = _("Only team leads and administrators handle data requests.")

    def has_permission(self, request, view):
        return services.may_manage_privacy(request.user)


class SubjectSerializer(ApiSerializer):
    """Query parameters (strings): the export's."""

    # The schema's request body needs one of them (leadbridge.api.schema).
    requires_one_of = ("email", "lead")

    email = serializers.EmailField(
        required=False, max_length=254, help_text=_("The person's email address.")
    )
    lead = serializers.IntegerField(
        required=False, min_value=1, max_value=2**62, help_text=_("Or one lead (and its email).")
    )

    def validate(self, attrs):
        if not any(attrs.get(name) for name in self.requires_one_of):
            raise ValidationError({"email": _("Give an email address or a lead number.")})
        return attrs


class EraseSerializer(SubjectSerializer):
    """A JSON body: each field takes only the JSON type its schema names."""

    email = StrictEmailField(
        required=False, max_length=254, help_text=_("The person's email address.")
    )
    lead = StrictIntegerField(
        required=False, min_value=1, max_value=2**62, help_text=_("Or one lead (and its email).")
    )
    reason = StrictCharField(
        max_length=2000, help_text=_("Why: kept in the log, without the person's data.")
    )


class ErasureSerializer(serializers.Serializer):
    erasure = serializers.IntegerField(help_text=_("The erasure log entry."))
    leads = serializers.ListField(
        child=serializers.IntegerField(), help_text=_("Anonymised leads.")
    )
    counts = serializers.DictField(
        child=serializers.IntegerField(), help_text=_("Rows anonymised per place.")
    )


def _subject(data: dict) -> dict:
    return {
        "email": data.get("email") or None,
        "lead": Lead(pk=data["lead"]) if data.get("lead") else None,
    }


class PrivacyExportView(APIView):
    """Everything held about a person (Art. 15/20 GDPR); every call is logged."""

    permission_classes = [*APIView.permission_classes, PrivacyOfficers]

    @extend_schema(
        summary="Export a person's data",
        parameters=[SubjectSerializer],
        responses={
            200: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description=(
                    "subject, leads, timeline, followups, escalations, notifications, "
                    "material_emails, webhook_deliveries, api_answers, import_issues, "
                    "import_files, admin_log."
                ),
            )
        },
    )
    def get(self, request):
        single_valued(request)
        query = SubjectSerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        try:
            export = services.person_export(
                **_subject(query.validated_data),
                by=request.user,
                now=timezone.now(),
                format="json",
            )
        except Lead.DoesNotExist:
            raise NotFound(_("No lead with this number that you may see.")) from None
        return Response(export)


class PrivacyEraseView(APIView):
    """Anonymise a person everywhere and put their email on the suppression list (Art. 17)."""

    permission_classes = [*APIView.permission_classes, PrivacyOfficers]

    @extend_schema(
        summary="Erase a person",
        request=EraseSerializer,
        responses={200: ErasureSerializer},
    )
    def post(self, request):
        body = EraseSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            log = services.person_erase(
                **_subject(body.validated_data),
                by=request.user,
                reason=body.validated_data["reason"],
                now=timezone.now(),
            )
        except Lead.DoesNotExist:
            raise NotFound(_("No lead with this number that you may see.")) from None
        except services.ErasureRefused:
            raise NotFound(_("Nothing is held about this person.")) from None
        return Response({"erasure": log.pk, "leads": log.lead_ids, "counts": log.counts})
