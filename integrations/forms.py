from django import forms
from django.core.validators import URLValidator
from django.utils.translation import gettext_lazy as _

from accounts.models import Role

from .models import DEFAULT_SCOPES, SUBSCRIBABLE_EVENTS, Scope
from .netguard import validate_public_url


class TokenForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=100, help_text=_("Which integration uses it.")
    )
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        choices=Scope.choices,
        initial=list(DEFAULT_SCOPES),
        widget=forms.CheckboxSelectMultiple,
    )


class SubscriptionForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=100)
    url = forms.URLField(
        label=_("URL"),
        max_length=500,
        validators=[URLValidator(schemes=["http", "https"]), validate_public_url],
        assume_scheme="https",
    )
    events = forms.MultipleChoiceField(
        label=_("Events"), choices=SUBSCRIBABLE_EVENTS, widget=forms.CheckboxSelectMultiple
    )


class IntegrationTokenForm(forms.Form):
    name = forms.CharField(
        label=_("Integration"), max_length=100, help_text=_("e.g. ERP, fair-scanner app.")
    )
    role = forms.ChoiceField(
        label=_("Acts as"),
        choices=[(role.value, role.label) for role in (Role.MARKETING, Role.ADMIN)],
    )
    scopes = forms.MultipleChoiceField(
        label=_("Scopes"),
        choices=Scope.choices,
        initial=[Scope.READ, Scope.LEADS_WRITE],
        widget=forms.CheckboxSelectMultiple,
    )
    expires_on = forms.DateField(
        label=_("Expires on"), widget=forms.DateInput(attrs={"type": "date"})
    )

    def __init__(self, *args, today, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today

    def clean_expires_on(self):
        day = self.cleaned_data["expires_on"]
        if day <= self.today:
            raise forms.ValidationError(_("Give a day after today."))
        return day
