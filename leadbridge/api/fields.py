"""Serializer fields shared by the apps' api.py modules."""

from datetime import UTC, datetime, timedelta

from django.db import models
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.exceptions import ErrorDetail
from rest_framework.relations import MANY_RELATION_KWARGS

# Ids are 64-bit (BigAutoField): anything larger cannot name a row, and is refused as input.
ID_MAX = 2**63 - 1
_MINUTE = timedelta(minutes=1)


class OffsetDateTimeField(serializers.DateTimeField):
    """RFC 3339 with a UTC offset, both ways: a time without one is ambiguous, so refused.

    Answered in the local time zone; where its offset is not whole minutes (local mean
    time: Berlin before 1893 is +00:53:28, which RFC 3339 cannot write) in UTC instead.
    """

    default_error_messages = {
        "naive": _("Give the time with a UTC offset, e.g. 2026-11-17T10:00:00+01:00."),
    }

    def to_internal_value(self, value):
        if isinstance(value, str):
            text = value.strip()
            tail = text[10:] if len(text) > 10 else ""
            if not (tail.endswith("Z") or tail.endswith("z") or "+" in tail or "-" in tail):
                self.fail("naive")
        return super().to_internal_value(value)

    def to_representation(self, value):
        if not isinstance(value, datetime) or value.tzinfo is None:
            return super().to_representation(value)
        local = self.enforce_timezone(value)
        if local.utcoffset() % _MINUTE:
            local = value.astimezone(UTC)
        text = local.isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text


class StrictFieldsMixin:
    """Unknown or read-only fields in a request body are an error, not silently dropped."""

    def to_internal_value(self, data):
        unknown = {}
        if isinstance(data, dict):
            writable = {name for name, field in self.fields.items() if not field.read_only}
            unknown = {
                key: [
                    ErrorDetail(str(_("This field cannot be set here.")), code="read_only")
                    if key in self.fields
                    else ErrorDetail(str(_("Unknown field.")), code="unknown_field")
                ]
                for key in data
                if key not in writable
            }
        try:
            value = super().to_internal_value(data)
        except serializers.ValidationError as exc:
            if unknown and isinstance(exc.detail, dict):
                exc.detail.update(unknown)
            raise
        if unknown:
            raise serializers.ValidationError(unknown)
        return value


def _strict(base, accepts, code="invalid"):
    """A DRF field that takes only the JSON type the schema names (DRF would coerce 5 → "5")."""

    class Strict(base):
        def to_internal_value(self, data):
            if not accepts(data):
                if code == "incorrect_type":
                    self.fail(code, data_type=type(data).__name__)
                self.fail(code)
            return super().to_internal_value(data)

    Strict.__name__ = Strict.__qualname__ = f"Strict{base.__name__}"
    return Strict


def _is_str(value):
    return isinstance(value, str)


def _is_int(value):
    return type(value) is int


StrictCharField = _strict(serializers.CharField, _is_str)
StrictEmailField = _strict(serializers.EmailField, _is_str)
StrictURLField = _strict(serializers.URLField, _is_str)
StrictRegexField = _strict(serializers.RegexField, _is_str)
StrictBooleanField = _strict(serializers.BooleanField, lambda value: type(value) is bool)
StrictIntegerField = _strict(serializers.IntegerField, _is_int)
# Money travels as a string ("1200.00"), exactly as it is answered.
StrictDecimalField = _strict(serializers.DecimalField, _is_str)


class StrictManyRelatedField(serializers.ManyRelatedField):
    """A list of ids, and only a list: DRF would iterate a JSON object's keys ({} → [])."""

    def to_internal_value(self, data):
        if not isinstance(data, list):
            self.fail("not_a_list", input_type=type(data).__name__)
        return super().to_internal_value(data)


class StrictPrimaryKeyRelatedField(
    _strict(serializers.PrimaryKeyRelatedField, _is_int, code="incorrect_type")
):
    @classmethod
    def many_init(cls, *args, **kwargs):
        # As RelatedField.many_init (DRF's documented hook), with the strict list field.
        allow_empty = kwargs.pop("allow_empty", None)
        list_kwargs = {"child_relation": cls(*args, **kwargs)}
        if allow_empty is not None:
            list_kwargs["allow_empty"] = allow_empty
        list_kwargs.update({k: v for k, v in kwargs.items() if k in MANY_RELATION_KWARGS})
        return StrictManyRelatedField(**list_kwargs)


def IdField(**kwargs) -> serializers.IntegerField:  # noqa: N802 - reads like a field class
    return StrictIntegerField(min_value=1, max_value=ID_MAX, **kwargs)


@extend_schema_field(
    {"type": "string", "pattern": r"^\d{2}:\d{2}(:\d{2})?$", "example": "08:00:00"}
)
class LocalTimeField(serializers.TimeField):
    """A wall-clock time of day (office hours), without an offset: not RFC 3339 "time"."""


class ApiModelSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    """A ModelSerializer whose model fields take only the JSON type the schema names."""

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.CharField: StrictCharField,
        models.TextField: StrictCharField,
        models.SlugField: StrictCharField,
        models.EmailField: StrictEmailField,
        models.URLField: StrictURLField,
        models.BooleanField: StrictBooleanField,
        models.IntegerField: StrictIntegerField,
        models.SmallIntegerField: StrictIntegerField,
        models.BigIntegerField: StrictIntegerField,
        models.PositiveIntegerField: StrictIntegerField,
        models.PositiveSmallIntegerField: StrictIntegerField,
        models.PositiveBigIntegerField: StrictIntegerField,
        models.DecimalField: StrictDecimalField,
        models.DateTimeField: OffsetDateTimeField,
        models.TimeField: LocalTimeField,
    }
    serializer_related_field = StrictPrimaryKeyRelatedField


class ApiSerializer(StrictFieldsMixin, serializers.Serializer):
    pass
