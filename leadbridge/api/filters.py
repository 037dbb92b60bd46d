from datetime import UTC

from django import forms
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError
from rest_framework.filters import BaseFilterBackend, OrderingFilter

from .fields import ID_MAX


class StrictOrdering(OrderingFilter):
    """`?ordering=` names allowed fields (comma-separated, "-" for descending), else 400.

    The schema lists exactly these terms (an array, comma-separated): nothing is
    trimmed or guessed, so what the schema refuses the server refuses too.
    """

    def _allowed(self, view, queryset=None, request=None) -> list[str]:
        fields = getattr(view, "ordering_fields", None)
        if isinstance(fields, list | tuple):
            return list(fields)
        context = {"request": request}
        return [name for name, _label in self.get_valid_fields(queryset, view, context)]

    def get_ordering(self, request, queryset, view):
        params = request.query_params.get(self.ordering_param)
        if params:
            terms = params.split(",")
            allowed = set(self._allowed(view, queryset, request))
            bad = [term for term in terms if term.removeprefix("-") not in allowed]
            if bad:
                raise ValidationError(
                    {
                        self.ordering_param: _("Order by one of: %(fields)s.")
                        % {"fields": ", ".join(sorted(allowed))}
                    }
                )
            return terms
        return self.get_default_ordering(view)

    def get_schema_operation_parameters(self, view):
        terms = [f"{sign}{name}" for name in self._allowed(view) for sign in ("", "-")]
        return [
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "description": str(
                    _("Sort by these fields, comma-separated; a leading - sorts descending.")
                ),
                "schema": {"type": "array", "items": {"type": "string", "enum": terms}},
                "style": "form",
                "explode": False,
            }
        ]


class IdFilter(filters.NumberFilter):
    """An id (or other whole number) in the query: integers only, in range, else 400."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(*args, **kwargs)
        # The schema states the same bounds (drf-spectacular reads a filter's annotation).
        extend_schema_field(
            {
                "type": "integer",
                "minimum": self.extra["min_value"],
                "maximum": self.extra["max_value"],
            }
        )(self)


class TextFilter(filters.CharFilter):
    """A text in the query; empty is refused (StrictFilterSet), and the schema says so."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        extend_schema_field({"type": "string", "minLength": 1})(self)


class _MomentField(IsoDateTimeField):
    def clean(self, value):
        moment = super().clean(value)
        try:  # 0001-01-01 in Berlin is still 0000 in UTC: SQLite's adapter converts to UTC
            moment and moment.astimezone(UTC)
        except OverflowError:
            raise forms.ValidationError(_("Give a time between the years 1 and 9999.")) from None
        return moment


class MomentFilter(filters.IsoDateTimeFilter):
    """A moment in the query (ISO 8601); one the database cannot take is a 400."""

    field_class = _MomentField


class StrictFilterSet(filters.FilterSet):
    """Foreign keys filter by id without a lookup query; an empty value is an error, not "all"."""

    FILTER_DEFAULTS = {
        **filters.FilterSet.FILTER_DEFAULTS,
        models.CharField: {"filter_class": TextFilter},
        models.ForeignKey: {"filter_class": IdFilter},
        models.OneToOneField: {"filter_class": IdFilter},
        models.IntegerField: {"filter_class": IdFilter, "extra": lambda f: {"min_value": 0}},
        models.PositiveSmallIntegerField: {
            "filter_class": IdFilter,
            "extra": lambda f: {"min_value": 0},
        },
    }

    def is_valid(self):
        valid = super().is_valid()
        for name in self.filters:
            if self.data.get(name, None) == "":
                self.form.add_error(name, _("Give a value, or leave the parameter out."))
                valid = False
        return valid


def single_valued(request) -> None:
    """Every query parameter of this API takes one value: a repeat is a 400, not "the last one"."""
    repeated = [key for key in request.query_params if len(request.query_params.getlist(key)) > 1]
    if repeated:
        raise ValidationError({key: _("Give this parameter once.") for key in repeated[:20]})


class SingleValuedParams(BaseFilterBackend):
    def filter_queryset(self, request, queryset, view):
        single_valued(request)
        return queryset


class KnownQueryParamsMiddleware:
    """An API request with a query parameter its operation does not list answers 400.

    As unknown body fields do (leadbridge.api.fields.StrictFieldsMixin): a misspelt
    filter must not quietly answer the whole list. The accepted names come from
    the OpenAPI schema itself (leadbridge.api.schema.operation_query_parameters), so
    the two cannot drift apart. Paths outside the schema (the schema and docs
    pages, unknown URLs) are left to their views.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith("/api/") and request.GET:
            from .errors import problem_response
            from .schema import operation_query_parameters

            method = "GET" if request.method == "HEAD" else request.method
            accepted = operation_query_parameters(request.path_info, method)
            unknown = [
                name for name in request.GET if accepted is not None and name not in accepted
            ]
            if unknown:
                errors = [
                    {
                        "field": name[:200],
                        "code": "unknown_parameter",
                        "message": str(_("Unknown query parameter.")),
                    }
                    for name in unknown[:20]
                ]
                return problem_response(
                    request,
                    status_code=400,
                    code="invalid",
                    detail=_("Unknown query parameters: %(names)s. Accepted: %(accepted)s.")
                    % {
                        "names": ", ".join(name[:200] for name in unknown[:20]),
                        "accepted": ", ".join(sorted(accepted)) or "–",
                    },
                    errors=errors,
                )
        return self.get_response(request)
