from django import forms
from django.utils.translation import gettext_lazy as _

from .services import CallOutcome


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

    def __init__(self, *args, now=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.now = now

    def clean(self):
        data = super().clean()
        if data.get("outcome") == CallOutcome.CALL_LATER:
            when = data.get("call_back_at")
            if when is None:
                self.add_error("call_back_at", _("Say when to call back."))
            elif self.now and when <= self.now:
                self.add_error("call_back_at", _("The call-back time must be in the future."))
        return data
