"""Leads over the API: intake (one, or up to 10,000 at once), lists, a lead's timeline.

Intake is idempotent twice over: an Idempotency-Key header replays the first
answer, and a repeated external_id for a campaign returns the lead it made
(lead_receive's unique constraint), also when both requests race.
"""

from __future__ import annotations

import hashlib
import json
import re
from contextlib import nullcontext

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import EmailValidator, RegexValidator
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, ErrorDetail, NotFound, ValidationError
from rest_framework.fields import empty
from rest_framework.response import Response

from accounts.models import Role, Team, User
from campaigns.models import Campaign, Channel, InfoMaterial
from followups.models import Escalation
from integrations.services import IdempotencyMismatch, idempotency_claim, idempotency_fingerprint
from leadbridge import lookups
from leadbridge.api.errors import Conflict, FieldsForbidden, IdempotencyKeyReused
from leadbridge.api.fields import (
    ApiModelSerializer,
    ApiSerializer,
    IdField,
    OffsetDateTimeField,
    StrictBooleanField,
    StrictCharField,
    StrictEmailField,
    StrictRegexField,
)
from leadbridge.api.filters import MomentFilter, StrictFilterSet, single_valued
from leadbridge.api.pagination import SyncCursor

from .intake import ERASED_PERSON, OnDuplicate, PersonErased, Status, lead_receive, leads_receive
from .models import (
    RECEIVED_FLOOR,
    Decision,
    LawfulBasis,
    Lead,
    LeadEvent,
    RejectReason,
    Source,
    Stage,
    received_at_problem,
)
from .services import (
    CONTACT_FIELDS,
    LeadChanged,
    lead_contact_update,
    lead_move,
    leads_reassign,
)

BULK_LIMIT = 10_000  # leads in one bulk request

ON_DUPLICATE_CHOICES = [
    (OnDuplicate.SKIP, _("skip: answer with the known lead, change nothing")),
    (OnDuplicate.MERGE, _("merge: fill the known lead's empty fields")),
    (OnDuplicate.CREATE, _("create: a new lead anyway")),
]
INTAKE_CHOICES = [
    ("created", _("A new lead was made.")),
    ("existing", _("Sent before (same Idempotency-Key or external_id): the lead it made.")),
    ("duplicate", _("A known lead (same email, phone or company + name); left unchanged.")),
    ("merged", _("A known lead; its empty fields were filled from this one.")),
]


class LeadSerializer(ApiModelSerializer):
    # Empty until sales decides: the schema's enums must include "".
    decision = serializers.ChoiceField(choices=Decision.choices, allow_blank=True, read_only=True)
    decision_reason = serializers.ChoiceField(
        choices=RejectReason.choices, allow_blank=True, read_only=True
    )

    class Meta:
        model = Lead
        fields = [
            "id",
            "campaign",
            "channel",
            "source",
            "external_id",
            "company",
            "contact_name",
            "email",
            "phone",
            "street",
            "postcode",
            "city",
            "country",
            "region",
            "message",
            "requests_material",
            "requested_material",
            "wants_call",
            "consent_text",
            "consent_at",
            "consent_language",
            "lawful_basis",
            "lawful_basis_source",
            "lawful_basis_at",
            "marketing_consent_confirmed_at",
            "received_at",
            "stage",
            "owner",
            "team",
            "decision",
            "decision_reason",
            "decision_note",
            "decided_at",
            "material_sent_at",
            "first_contact_at",
            "reached_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class LeadIntakeResultSerializer(LeadSerializer):
    intake = serializers.ChoiceField(choices=INTAKE_CHOICES, read_only=True)

    class Meta(LeadSerializer.Meta):
        fields = [*LeadSerializer.Meta.fields, "intake"]
        read_only_fields = fields


class LeadInSerializer(ApiSerializer):
    """One incoming lead, declared by hand (not from the model): it is the hot path.

    Ids of related objects are plain integers here; validate_leads_in looks them
    up for a whole batch at once and then applies validate_intake.
    """

    campaign = IdField(help_text=_("The campaign the enquiry answers."))
    external_id = StrictCharField(
        max_length=100,
        required=False,
        allow_blank=True,
        default="",
        help_text=_(
            "Your id for this record: a repeat for the same campaign returns the first lead."
        ),
    )
    company = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
    contact_name = StrictCharField(max_length=200)
    email = StrictEmailField(max_length=254, required=False, allow_blank=True, default="")
    phone = StrictCharField(max_length=50, required=False, allow_blank=True, default="")
    street = StrictCharField(max_length=200, required=False, allow_blank=True, default="")
    postcode = StrictCharField(max_length=10, required=False, allow_blank=True, default="")
    city = StrictCharField(max_length=100, required=False, allow_blank=True, default="")
    country = StrictRegexField(
        r"^[A-Z]{2}\Z",
        required=False,
        default="DE",
        help_text=_("ISO 3166 code in capitals, e.g. DE, AT, CH."),
        error_messages={"invalid": _("Give a two-letter country code in capitals, e.g. DE.")},
    )
    message = StrictCharField(max_length=10000, required=False, allow_blank=True, default="")
    requests_material = StrictBooleanField(required=False, default=False)
    requested_material = IdField(
        required=False,
        allow_null=True,
        default=None,
        help_text=_("One of the campaign's materials; default: the campaign's first."),
    )
    wants_call = StrictBooleanField(required=False, default=False)
    received_at = OffsetDateTimeField(
        required=False,
        help_text=_("When the enquiry reached you; deadlines count from here. Default: now."),
    )
    channel = serializers.ChoiceField(
        choices=Channel.choices, required=False, help_text=_("Default: the campaign's channel.")
    )
    consent_text = StrictCharField(
        max_length=5000,
        required=False,
        allow_blank=True,
        default="",
        help_text=_("The exact text the person agreed to, as it was shown."),
    )
    consent_at = OffsetDateTimeField(required=False, allow_null=True, default=None)
    consent_language = StrictRegexField(
        r"^[a-z]{2}(-[A-Za-z]{2,4})?\Z",
        required=False,
        allow_blank=True,
        default="",
        help_text=_("The language the consent text was shown in, e.g. de or en."),
        error_messages={"invalid": _("Give a language code, e.g. de or en.")},
    )
    # Default "contract": a lead is an enquiry, and answering one is a step taken at the
    # person's request before a contract (Art. 6(1)(b)); integrations/API.md says when
    # to send another basis.
    lawful_basis = serializers.ChoiceField(
        choices=LawfulBasis.choices,
        required=False,
        default=LawfulBasis.CONTRACT,
        help_text=_(
            "Why you may keep this person's data (GDPR Art. 6(1)). Default: contract "
            "(a pre-contract enquiry: the person asked for material, an offer or a call). "
            "consent needs consent_text and consent_at."
        ),
    )
    owner = IdField(
        required=False,
        help_text=_("Team leads and administrators only: the rep who follows up (no routing)."),
    )
    team = IdField(
        required=False,
        help_text=_("Team leads and administrators only: route within this team."),
    )


class LeadIntakeSerializer(LeadInSerializer):
    on_duplicate = serializers.ChoiceField(
        choices=ON_DUPLICATE_CHOICES,
        required=False,
        help_text=_("What to do with a known person (default skip; also ?on_duplicate=)."),
    )


# Fields whose value only team leads and administrators may choose (field-level rules).
ASSIGNING_FIELDS = ("owner", "team")


def forbidden_fields(user, data) -> dict[str, str]:
    if not isinstance(data, dict) or user.is_manager or user.is_admin_role:
        return {}
    return {
        name: _("Only team leads and administrators assign leads; routing does it otherwise.")
        for name in ASSIGNING_FIELDS
        if name in data
    }


def validate_intake(attrs: dict, *, now, user, materials_of=None) -> dict:
    """Rules across fields, shared by single and bulk intake."""
    errors = {}
    campaign = attrs["campaign"]
    if not getattr(campaign, "accepts_leads", True):
        errors["campaign"] = _("This campaign is not launched yet; it takes leads once active.")
    received_at = attrs.get("received_at")
    problem = received_at_problem(received_at, now=now) if received_at is not None else None
    if problem == "future":
        errors["received_at"] = _("The enquiry cannot have arrived in the future.")
    elif problem == "old":
        errors["received_at"] = _("The enquiry cannot have arrived before %(date)s.") % {
            "date": RECEIVED_FLOOR.isoformat()
        }
    if attrs.get("lawful_basis") == LawfulBasis.CONSENT and not (
        attrs.get("consent_text") and attrs.get("consent_at")
    ):
        errors["lawful_basis"] = _(
            "Consent as the lawful basis needs consent_text (what the person agreed to) "
            "and consent_at (when)."
        )
    material = attrs.get("requested_material")
    if material is not None:
        offered = (
            materials_of(campaign.pk)
            if materials_of
            else set(campaign.materials.values_list("pk", flat=True))
        )
        if material.pk not in offered:
            errors["requested_material"] = _("This campaign does not offer that material.")
    owner, team = attrs.get("owner"), attrs.get("team")
    if user.is_manager and not user.is_admin_role:
        if team is not None and team.pk != user.team_id:
            errors["team"] = _("You can route leads only to your own team.")
        if owner is not None and owner.team_id != user.team_id:
            errors["owner"] = _("You can assign leads only to reps of your team.")
    if owner is not None and team is not None and owner.team_id != team.pk:
        errors["owner"] = _("This rep is not in that team.")
    if errors:
        raise ValidationError(errors)
    return attrs


class _Unsure(Exception):
    pass


_SURROGATES = re.compile("[\ud800-\udfff]")


def _item_check() -> FastItemCheck:
    """Built once per process: neither the serializer nor the checks keep request state."""
    global _ITEM_CHECK
    if _ITEM_CHECK is None:
        _ITEM_CHECK = FastItemCheck(LeadInSerializer())
    return _ITEM_CHECK


_ITEM_CHECK = None


class FastItemCheck:
    """The common case of a serializer's fields in plain Python, for 10,000 items a request.

    A DRF serializer spends ~100 µs per item; this takes a few. It accepts only
    values it is sure DRF accepts and converts them as DRF would; on anything
    else (a missing or unknown field, a string where a boolean belongs, a bad
    email) the item goes through the serializer itself, which gives the error
    messages. tests/api/test_bulk_intake.py checks both give the same data.
    """

    def __init__(self, serializer: serializers.Serializer):
        self.serializer = serializer
        fields = {name: f for name, f in serializer.fields.items() if not f.read_only}
        self.checks = {name: self._compile(field) for name, field in fields.items()}
        self.required = [name for name, f in fields.items() if f.required]
        self.defaults = [
            (name, f.default)
            for name, f in fields.items()
            if not f.required and f.default is not empty and not callable(f.default)
        ]

    def __call__(self, item):
        if type(item) is not dict:
            return self.serializer.run_validation(item)
        out = {}
        try:
            for key, value in item.items():
                check = self.checks.get(key)
                if check is None:
                    raise _Unsure
                out[key] = check(value)
            for name in self.required:
                if name not in out:
                    raise _Unsure
        except _Unsure:
            return self.serializer.run_validation(item)
        for name, default in self.defaults:
            if name not in out:
                out[name] = default
        return self.serializer.validate(out)

    @staticmethod
    def _compile(field):
        nullable = field.allow_null

        def none_or(check):
            def run(value):
                if value is None:
                    if nullable:
                        return None
                    raise _Unsure
                return check(value)

            return run

        if isinstance(field, serializers.BooleanField):

            def check(value):
                if type(value) is bool:
                    return value
                raise _Unsure

            return none_or(check)
        if isinstance(field, serializers.IntegerField):
            low, high = field.min_value, field.max_value

            def check(value):
                if (
                    type(value) is int
                    and (low is None or value >= low)
                    and (high is None or value <= high)
                ):
                    return value
                raise _Unsure

            return none_or(check)
        if isinstance(field, serializers.ChoiceField):
            choices = field.choice_strings_to_values

            def check(value):
                if type(value) is str and value in choices:
                    return choices[value]
                raise _Unsure

            return none_or(check)
        if isinstance(field, OffsetDateTimeField):
            zone = timezone.get_current_timezone()

            def check(value):
                if type(value) is not str or len(value) > 40:
                    raise _Unsure
                tail = value[10:]
                if not ("+" in tail or "-" in tail or tail.endswith(("Z", "z"))):
                    raise _Unsure
                try:
                    parsed = parse_datetime(value)
                    if parsed is None or parsed.tzinfo is None:
                        raise _Unsure
                    return parsed.astimezone(zone)
                except (ValueError, OverflowError):
                    raise _Unsure from None

            return none_or(check)
        if type(field) in {StrictCharField, StrictEmailField, StrictRegexField}:
            max_length, allow_blank, trim = (
                field.max_length,
                field.allow_blank,
                field.trim_whitespace,
            )
            extra = [v for v in field.validators if isinstance(v, EmailValidator | RegexValidator)]

            def check(value):
                if type(value) is not str:
                    raise _Unsure
                text = value.strip() if trim else value
                if not text:
                    if allow_blank:
                        return ""
                    raise _Unsure
                if (max_length is not None and len(text) > max_length) or "\x00" in text:
                    raise _Unsure
                if not text.isascii() and _SURROGATES.search(text):
                    raise _Unsure
                try:
                    for validator in extra:
                        validator(text)
                except DjangoValidationError:
                    raise _Unsure from None
                return text

            return none_or(check)

        def unsure(value):
            raise _Unsure

        return unsure


def _campaigns(ids: set, fetch) -> dict:
    """One campaign (a single POST, most bulk requests) from process memory (leadbridge.lookups)."""

    def rows():
        return Campaign.objects.select_related("team", "sla_policy")

    if len(ids) == 1:
        (pk,) = ids
        campaign = lookups.intake.get(("campaign", pk), lambda: rows().filter(pk=pk).first())
        return {pk: campaign} if campaign is not None else {}
    return fetch(rows, "campaign")


def validate_leads_in(items: list, *, user, now) -> tuple[list[tuple[int, dict]], dict[int, dict]]:
    """Check each lead on its own: ([(index, data)], {index: {field: message}})."""
    from leadbridge.api.errors import flatten

    check = _item_check()
    parsed: list[tuple[int, dict]] = []
    invalid: dict[int, dict] = {}
    for index, item in enumerate(items):
        try:
            parsed.append((index, dict(check(item))))
        except ValidationError as exc:
            invalid[index] = flatten(exc.detail)

    # The ids, resolved with one query per kind for the whole batch. (`rows` makes the
    # queryset, only when some item names an id: most single leads name none.)
    def fetch(rows, name):
        ids = {data[name] for _i, data in parsed if data.get(name) is not None}
        found = {}
        if ids:
            found = rows().in_bulk(sorted(ids))
        return found

    campaign_ids = {data["campaign"] for _i, data in parsed if data.get("campaign") is not None}
    campaigns = _campaigns(campaign_ids, fetch)
    materials = fetch(InfoMaterial.objects.all, "requested_material")
    owners = fetch(
        lambda: User.objects.filter(is_active=True, role=Role.REP).select_related("team"),
        "owner",
    )
    teams = fetch(Team.objects.all, "team")
    offered: dict[int, set] = {}

    def materials_of(campaign_id):
        if campaign_id not in offered:
            offered[campaign_id] = set(
                Campaign.materials.through.objects.filter(campaign_id=campaign_id).values_list(
                    "infomaterial_id", flat=True
                )
            )
        return offered[campaign_id]

    valid = []
    for index, data in parsed:
        errors = {}
        for name, found in (
            ("campaign", campaigns),
            ("requested_material", materials),
            ("owner", owners),
            ("team", teams),
        ):
            if data.get(name) is not None:
                obj = found.get(data[name])
                if obj is None:
                    errors[name] = ErrorDetail(
                        str(_("No such object (id %(id)s).") % {"id": data[name]}),
                        code="does_not_exist",
                    )
                else:
                    data[name] = obj
        if not errors:
            try:
                data = validate_intake(data, now=now, user=user, materials_of=materials_of)
            except ValidationError as exc:
                errors = flatten(exc.detail)
        if errors:
            invalid[index] = errors
        else:
            valid.append((index, data))
    return valid, invalid


@extend_schema_field({"type": "object", "additionalProperties": True})
class _AnyItem(serializers.Field):
    """Taken as is: each lead is checked on its own and answered per item."""

    def to_internal_value(self, data):
        return data


class BulkIntakeSerializer(ApiSerializer):
    leads = serializers.ListField(
        child=_AnyItem(),
        min_length=1,
        max_length=BULK_LIMIT,
        help_text=_(
            "Up to 10,000 leads, each an object as LeadIn (POST /api/v1/leads/ without "
            "on_duplicate); an item that is not valid is reported in its result, not refused."
        ),
    )
    on_duplicate = serializers.ChoiceField(choices=ON_DUPLICATE_CHOICES, required=False)


class BulkItemResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text=_("Position in the request's list."))
    status = serializers.ChoiceField(
        choices=[*INTAKE_CHOICES, ("invalid", _("Not taken: see errors."))]
    )
    id = serializers.IntegerField(allow_null=True, help_text=_("The lead, unless invalid."))
    errors = serializers.DictField(child=serializers.CharField(), help_text=_("Field → message."))


class BulkResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    existing = serializers.IntegerField()
    duplicate = serializers.IntegerField()
    merged = serializers.IntegerField()
    invalid = serializers.IntegerField()
    results = BulkItemResultSerializer(many=True)


MOVABLE_STAGES = [Stage.PRESALES, Stage.SALE, Stage.AFTERSALES, Stage.LOST, Stage.DISQUALIFIED]


class LeadUpdateSerializer(ApiSerializer):
    """PATCH: the contact's details, the stage (along the funnel), the owner; each optional."""

    company = StrictCharField(max_length=200, required=False, allow_blank=True)
    contact_name = StrictCharField(max_length=200, required=False)
    email = StrictEmailField(max_length=254, required=False, allow_blank=True)
    phone = StrictCharField(max_length=50, required=False, allow_blank=True)
    street = StrictCharField(max_length=200, required=False, allow_blank=True)
    postcode = StrictCharField(max_length=10, required=False, allow_blank=True)
    city = StrictCharField(max_length=100, required=False, allow_blank=True)
    country = StrictRegexField(
        r"^[A-Z]{2}\Z",
        required=False,
        help_text=_("ISO 3166 code in capitals, e.g. DE, AT, CH."),
        error_messages={"invalid": _("Give a two-letter country code in capitals, e.g. DE.")},
    )
    message = StrictCharField(max_length=10000, required=False, allow_blank=True)
    stage = serializers.ChoiceField(
        choices=[(stage.value, stage.label) for stage in MOVABLE_STAGES],
        required=False,
        help_text=_(
            "Sales (not marketing): along the funnel (prospect → presales → sale → "
            "aftersales) or out of it (lost, disqualified: with stage_reason). A lead becomes "
            "a prospect through POST /followups/{id}/qualify/, rejected through …/reject/."
        ),
    )
    stage_reason = StrictCharField(max_length=500, required=False, allow_blank=True, default="")
    owner = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.filter(is_active=True, role=Role.REP).select_related("team"),
        required=False,
        help_text=_(
            "Team leads and administrators: hand the lead and its open follow-ups to this rep."
        ),
    )


IF_MATCH_PARAM = OpenApiParameter(
    "If-Match",
    OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    description=(
        "The lead's ETag from your last GET: the change is made only if the lead is still "
        "as you saw it, else 412. Optional; `*` matches any version."
    ),
)


def lead_etag(data: dict) -> str:
    """A strong ETag: a digest of the lead's JSON, the same bytes for the same state."""
    digest = hashlib.sha256(
        json.dumps(data, sort_keys=True, separators=(",", ":"), default=str).encode()
    )
    return f'"{digest.hexdigest()[:32]}"'


def _matches(header: str, etag: str) -> bool:
    """If-Match (RFC 9110 13.1.1): "*" or a list of entity tags, compared strongly."""
    tags = [tag.strip() for tag in header.split(",")]
    return "*" in tags or etag in tags


class PreconditionFailed(APIException):
    status_code = 412
    default_code = "precondition_failed"
    default_detail = _(
        "The lead changed since you read it (If-Match): read it again and redo your change."
    )


class TimelineEntrySerializer(serializers.Serializer):
    at = OffsetDateTimeField()
    kind = serializers.CharField(help_text=_("An event kind, or escalation for a sweep step."))
    label = serializers.CharField()
    actor = serializers.IntegerField(allow_null=True)
    followup = serializers.IntegerField(allow_null=True)
    level = serializers.IntegerField(allow_null=True, help_text=_("Escalation level 0–3."))
    data = serializers.DictField()


class LeadFilter(StrictFilterSet):
    received_after = MomentFilter(field_name="received_at", lookup_expr="gte")
    received_before = MomentFilter(field_name="received_at", lookup_expr="lt")
    updated_after = MomentFilter(
        field_name="updated_at",
        lookup_expr="gt",
        help_text=_(
            "Incremental sync: leads changed after this moment, oldest change first "
            "(ordered by updated_at, id; no ordering parameter). Each page shows sync_until: "
            "when next is null, start the next pass with updated_after set to it."
        ),
    )
    # lead_email_upper: iexact is UPPER(email) = UPPER(%s) on PostgreSQL.
    email = filters.CharFilter(
        lookup_expr="iexact",
        max_length=254,
        help_text=_("The contact's email address, exactly, ignoring case."),
    )

    class Meta:
        model = Lead
        fields = [
            "campaign",
            "stage",
            "owner",
            "team",
            "channel",
            "source",
            "decision",
            "external_id",
        ]


ON_DUPLICATE_PARAM = OpenApiParameter(
    "on_duplicate",
    OpenApiTypes.STR,
    enum=[value for value, _label in ON_DUPLICATE_CHOICES],
    description="skip (default), merge or create; the body field wins if both are given.",
)
IDEMPOTENCY_PARAM = OpenApiParameter(
    "Idempotency-Key",
    # Printable ASCII; no space at either end (HTTP strips it, so it could not count).
    {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[!-~]([ -~]*[!-~])?$"},
    location=OpenApiParameter.HEADER,
    description=(
        "Any unique string up to 255 characters (a UUID is good). A repeat within 24 h "
        "answers what the first request answered (status and body, e.g. 201) with the "
        "header Idempotent-Replayed: true, instead of doing it again; the same key with a "
        "different body answers 422."
    ),
)
REPLAYED_HEADER = OpenApiParameter(
    "Idempotent-Replayed",
    {"type": "string", "enum": ["true"]},
    location=OpenApiParameter.HEADER,
    response=True,
    description="Present on a repeat of an Idempotency-Key: this is the first answer again.",
)


def _idempotency_key(request) -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not 1 <= len(key) <= 255 or not key.isprintable() or not key.isascii() or key != key.strip():
        raise ValidationError({"Idempotency-Key": _("Use 1 to 255 printable ASCII characters.")})
    return key


def _on_duplicate(request, body_value) -> str:
    single_valued(request)
    value = (
        body_value
        if body_value is not None
        else request.query_params.get("on_duplicate", OnDuplicate.SKIP)
    )
    if not isinstance(value, str) or value not in {
        OnDuplicate.SKIP,
        OnDuplicate.MERGE,
        OnDuplicate.CREATE,
    }:
        raise ValidationError({"on_duplicate": _("Choose skip, merge or create.")})
    return value


class LeadViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Leads the user may see: reps and team leads their team's, marketing and admins all."""

    queryset = Lead.objects.none()  # the model, for the schema; rows: get_queryset
    serializer_class = LeadSerializer
    lookup_value_regex = r"\d+"
    filterset_class = LeadFilter
    pagination_class = SyncCursor  # ?updated_after= pages by (updated_at, id)
    throttle_scope = None  # "bulk" for the bulk action (leadbridge.api.throttling)
    ordering_fields = ["id", "received_at", "created_at"]
    ordering = ["-id"]

    def get_queryset(self):
        return Lead.objects.visible_to(self.request.user)

    def _intake_response(self, lead: Lead, result: str, *, created: bool) -> Response:
        if not created and not self.get_queryset().filter(pk=lead.pk).exists():
            raise Conflict(
                _("This lead is known already and belongs to a team you cannot see."),
            )
        lead.intake = result
        return Response(
            LeadIntakeResultSerializer(lead).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )

    @extend_schema(
        summary="Send one lead",
        request=LeadIntakeSerializer,
        parameters=[IDEMPOTENCY_PARAM, ON_DUPLICATE_PARAM, REPLAYED_HEADER],
        responses={
            201: OpenApiResponse(LeadIntakeResultSerializer, description="A new lead."),
            200: OpenApiResponse(
                LeadIntakeResultSerializer,
                description="Sent before, or a known person: the existing lead (see intake).",
            ),
        },
    )
    def create(self, request, *args, **kwargs):
        user = request.user
        forbidden = forbidden_fields(user, request.data)
        if forbidden:
            raise FieldsForbidden(forbidden)
        now = timezone.now()
        key = _idempotency_key(request)
        if not isinstance(request.data, dict):
            raise ValidationError({"non_field_errors": _("Send the lead as a JSON object.")})
        body = dict(request.data)
        on_duplicate = _on_duplicate(request, body.pop("on_duplicate", None))
        # Without a key, the pipeline's own transaction is enough.
        with transaction.atomic() if key is not None else nullcontext():
            claim = None
            if key is not None:
                # The replay first: a retry answers what the first request answered even
                # if the lead would not pass today (campaign ended since, say). A new
                # request that fails validation rolls its claim back with the transaction.
                claim, owned = _claim(request, user=user, key=key, now=now)
                if not owned:
                    if claim.lead_id is None:
                        raise NotFound(_("The lead made with this Idempotency-Key was deleted."))
                    if claim.response_body is None:  # stored before answers were kept
                        return _replayed(
                            self._intake_response(claim.lead, "existing", created=False)
                        )
                    # Location: leadbridge.api.schema.CreatedLocationMiddleware, as for the first.
                    return _replayed(Response(claim.response_body, status=claim.response_status))
            valid, invalid = validate_leads_in([body], user=user, now=now)
            if invalid:
                raise ValidationError(invalid[0])
            data = valid[0][1]
            campaign = data.pop("campaign")
            try:
                result = lead_receive(
                    data=data,
                    source=Source.API,
                    now=now,
                    actor=user,
                    campaign=campaign,
                    on_duplicate=on_duplicate,
                )
            except PersonErased as exc:
                raise ValidationError({"email": str(exc)}) from None
            response = self._intake_response(result.lead, result.status, created=result.created)
            if claim is not None:
                claim.lead = result.lead
                claim.response_status = response.status_code
                claim.response_body = response.data
                claim.save(update_fields=["lead", "response_status", "response_body"])
        return response

    @extend_schema(
        summary="Send up to 10,000 leads at once",
        request=BulkIntakeSerializer,
        parameters=[IDEMPOTENCY_PARAM, ON_DUPLICATE_PARAM, REPLAYED_HEADER],
        responses={200: BulkResultSerializer},
        description=(
            "Each lead is checked on its own: invalid ones are reported in `results` with "
            "their errors and the others are taken. Repeats (same external_id for the "
            "campaign) and known people are handled as for a single lead."
        ),
    )
    @action(
        detail=False,
        methods=["post"],
        throttle_scope="bulk",
        filter_backends=[],
        pagination_class=None,
    )
    def bulk(self, request):
        user = request.user
        now = timezone.now()
        key = _idempotency_key(request)
        outer = BulkIntakeSerializer(data=request.data)
        outer.is_valid(raise_exception=True)
        items = outer.validated_data["leads"]
        on_duplicate = _on_duplicate(request, outer.validated_data.get("on_duplicate"))
        forbidden = {}
        for index, item in enumerate(items):
            for name, message in forbidden_fields(user, item).items():
                forbidden[f"leads.{index}.{name}"] = message
        if forbidden:
            raise FieldsForbidden(dict(list(forbidden.items())[:100]))
        with transaction.atomic():
            claim = None
            if key is not None:
                claim, owned = _claim(request, user=user, key=key, now=now)
                if not owned:
                    return _replayed(Response(claim.response_body, status=claim.response_status))
            valid, invalid = validate_leads_in(items, user=user, now=now)
            received = leads_receive(
                items=[data for _index, data in valid],
                source=Source.API,
                now=now,
                actor=user,
                on_duplicate=on_duplicate,
            )
            for (index, _data), result in zip(valid, received, strict=True):
                if result.status == Status.ERASED:
                    invalid[index] = {"email": str(ERASED_PERSON)}
            taken = {
                index: result
                for (index, _data), result in zip(valid, received, strict=True)
                if result.status != Status.ERASED
            }
            body = _bulk_body(len(items), taken, invalid)
            if claim is not None:
                claim.response_status = 200
                claim.response_body = body
                claim.save(update_fields=["response_status", "response_body"])
        return Response(body)

    @extend_schema(summary="One lead (with its ETag)")
    def retrieve(self, request, *args, **kwargs):
        data = LeadSerializer(self.get_object()).data
        return Response(data, headers={"ETag": lead_etag(data)})

    @extend_schema(
        summary="Change a lead: contact details, stage, owner",
        request=LeadUpdateSerializer,
        parameters=[IF_MATCH_PARAM],
        # 412 with the other error answers: leadbridge.api.schema (from If-Match).
        responses={200: LeadSerializer},
        description=(
            "Every field is optional and all succeed or none. Contact changes are one "
            "timeline entry (and a lead.updated webhook); a stage change goes through the "
            "same rules as in the browser (and sends lead.stage_changed). The answer carries "
            "the new ETag."
        ),
    )
    def partial_update(self, request, *args, **kwargs):
        user = request.user
        lead = self.get_object()
        if not isinstance(request.data, dict):
            raise ValidationError({"non_field_errors": _("Send the changes as a JSON object.")})
        forbidden = {}
        if "owner" in request.data and not (user.is_manager or user.is_admin_role):
            forbidden["owner"] = _("Only team leads and administrators reassign leads.")
        if "stage" in request.data and user.is_marketing:
            forbidden["stage"] = _("Marketing does not log sales actions.")
        if forbidden:
            raise FieldsForbidden(forbidden)
        serializer = LeadUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        owner = data.get("owner")
        if owner is not None and not user.is_admin_role and owner.team_id != user.team_id:
            raise ValidationError({"owner": _("You can assign leads only to reps of your team.")})
        now = timezone.now()
        with transaction.atomic():
            # Under the row lock: nobody changes the lead between the If-Match check and ours.
            # The visibility check again, under the lock: reassigned to another team or
            # erased meanwhile, it is not this caller's to change (404, not a 500).
            lead = Lead.objects.visible_to(user).select_for_update().filter(pk=lead.pk).first()
            if lead is None:
                raise NotFound()
            expected = request.headers.get("If-Match")
            if expected is not None and not _matches(
                expected, lead_etag(LeadSerializer(lead).data)
            ):
                raise PreconditionFailed()
            contact = {name: data[name] for name in CONTACT_FIELDS if name in data}
            if contact:
                try:
                    lead = lead_contact_update(lead=lead, by=user, at=now, changes=contact)
                except PersonErased as exc:
                    raise ValidationError({"email": str(exc)}) from None
            if "stage" in data and data["stage"] != lead.stage:
                try:
                    lead_move(
                        lead=lead, by=user, at=now, stage=data["stage"], reason=data["stage_reason"]
                    )
                except LeadChanged as exc:
                    raise Conflict(str(exc)) from None
                except ValueError:
                    raise ValidationError(
                        {"stage_reason": _("Leaving the funnel needs a reason.")}
                    ) from None
            if owner is not None:
                leads_reassign(leads=[lead], to=owner, by=user, at=now)
        lead.refresh_from_db()
        body = LeadSerializer(lead).data
        return Response(body, headers={"ETag": lead_etag(body)})

    @extend_schema(
        summary="A lead's timeline, oldest first",
        responses={200: TimelineEntrySerializer(many=True)},
    )
    @action(detail=True, filter_backends=[], pagination_class=None)
    def timeline(self, request, pk=None):
        lead = self.get_object()
        entries = [
            {
                "at": event.at,
                "kind": event.kind,
                "label": str(event.get_kind_display()),
                "actor": event.actor_id,
                "followup": event.followup_id,
                "level": None,
                "data": event.data if isinstance(event.data, dict) else {"value": event.data},
            }
            for event in LeadEvent.objects.filter(lead=lead)
        ]
        entries += [
            {
                "at": step.at,
                "kind": "escalation",
                "label": str(step.get_level_display()),
                "actor": None,
                "followup": step.followup_id,
                "level": step.level,
                "data": step.data if isinstance(step.data, dict) else {},
            }
            for step in Escalation.objects.filter(followup__lead=lead)
        ]
        entries.sort(key=lambda entry: entry["at"])
        return Response(TimelineEntrySerializer(entries, many=True).data)


def _storable(errors: dict) -> dict:
    """Field names echo the sender's keys: made safe for JSON columns.

    (No NUL and no lone surrogates: PostgreSQL's jsonb refuses both.)
    """

    def clean(text: str) -> str:
        return text.replace("\x00", "\ufffd").encode("utf-8", "replace").decode("utf-8")

    return {clean(key)[:200]: clean(message) for key, message in errors.items()}


def _bulk_body(count: int, taken: dict, invalid: dict) -> dict:
    body = {"created": 0, "existing": 0, "duplicate": 0, "merged": 0, "invalid": len(invalid)}
    results = []
    for index in range(count):
        if index in invalid:
            results.append(
                {
                    "index": index,
                    "status": "invalid",
                    "id": None,
                    "errors": _storable(invalid[index]),
                }
            )
        else:
            result = taken[index]
            body[result.status] += 1
            results.append(
                {"index": index, "status": result.status, "id": result.lead.pk, "errors": {}}
            )
    body["results"] = results
    return body


def _claim(request, *, user, key: str, now):
    fingerprint = idempotency_fingerprint(
        method=request.method, path=request.get_full_path(), body=_canonical_body(request)
    )
    try:
        return idempotency_claim(user=user, key=key, fingerprint=fingerprint, now=now)
    except IdempotencyMismatch:
        raise IdempotencyKeyReused() from None


def _replayed(response: Response) -> Response:
    response["Idempotent-Replayed"] = "true"
    return response


def _canonical_body(request) -> bytes:
    """The parsed body in a stable form: the same JSON with other spacing is the same request."""
    return json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str).encode()
