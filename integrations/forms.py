from django import forms
from django.core.validators import URLValidator
from django.utils.translation import gettext_lazy as _

from .models import DEFAULT_SCOPES, Event, Scope
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
        label=_("Events"), choices=Event.choices, widget=forms.CheckboxSelectMultiple
    )
