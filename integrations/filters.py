from datetime import UTC

from django import forms
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeField
from rest_framework.exceptions import ValidationError
from rest_framework.filters import BaseFilterBackend, OrderingFilter

from .fields import ID_MAX


class StrictOrdering(OrderingFilter):
    """`?ordering=` names allowed fields (comma-separated, "-" for descending), else 400."""

    def get_ordering(self, request, queryset, view):
        params = request.query_params.get(self.ordering_param)
        if params:
            terms = [term.strip() for term in params.split(",")]
            allowed = {
                name for name, _label in self.get_valid_fields(queryset, view, {"request": request})
            }
            bad = [
                term for term in terms if term.lstrip("-") not in allowed or not term.lstrip("-")
            ]
            if bad:
                raise ValidationError(
                    {
                        self.ordering_param: _("Order by one of: %(fields)s.")
                        % {"fields": ", ".join(sorted(allowed))}
                    }
                )
            return terms
        return self.get_default_ordering(view)


class IdFilter(filters.NumberFilter):
    """An id (or other whole number) in the query: integers only, in range, else 400."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", ID_MAX)
        super().__init__(*args, **kwargs)


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
