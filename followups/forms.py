from django import forms
from django.utils.translation import gettext_lazy as _

from leadbridge.api.fields import ID_MAX

from .models import FollowUp
from .services import CallOutcome


def IdField(label) -> forms.IntegerField:  # noqa: N802 - reads like a field class
    """An id in the URL: a whole number a row can have (64 bits), else a form error.

    int() of a 23-digit id would overflow PostgreSQL's bigint, and "²" passes
    str.isdigit() but not int(): the form field checks both.
    """
    return forms.IntegerField(label=label, required=False, min_value=1, max_value=ID_MAX)


class QueryFilterForm(forms.Form):
    """Filters read from a page's URL: a value that is not one is left out, and said so."""

    def valid(self) -> dict:
        """The filters that are set and valid (what is not valid: self.problems())."""
        self.is_valid()
        return {
            name: value
            for name, value in self.cleaned_data.items()
            if value not in (None, "") and name not in self.errors
        }

    @staticmethod
    def one(field: forms.Field, value):
        """One value through a field: what it cleans to, or None if it is not valid."""
        try:
            return field.clean(value)
        except forms.ValidationError:
            return None

    def problems(self) -> list[str]:
        self.is_valid()
        return [
            f"{self.fields[name].label or name}: {' '.join(errors)}"
            for name, errors in self.errors.items()
        ]


class QueueFilterForm(QueryFilterForm):
    kind = forms.ChoiceField(label=_("Task"), choices=FollowUp.Kind.choices, required=False)
    campaign = IdField(_("Campaign"))
    rep = IdField(_("Rep"))


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class DispatchForm(forms.Form):
    postal = forms.BooleanField(required=False)


class CallForm(forms.Form):
    outcome = forms.ChoiceField(label=_("Outcome"), choices=CallOutcome.CHOICES)
    call_back_at = forms.DateTimeField(
        label=_("Call back at"), required=False, widget=DateTimeLocalInput()
    )
    note = forms.CharField(label=_("Note"), required=False, max_length=2000)
    detail = forms.ChoiceField(
        label=_("Result"), choices=[("", "—"), *CallOutcome.DETAILS], required=False
    )

    def __init__(self, *args, now=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.now = now

    def clean(self):
        data = super().clean()
        when = data.get("call_back_at")
        if data.get("outcome") == CallOutcome.CALL_LATER and when is None:
            self.add_error("call_back_at", _("Say when to call back."))
        elif when is not None and self.now and when <= self.now:
            self.add_error("call_back_at", _("The call-back time must be in the future."))
        return data
