from django import forms
from django.utils.translation import gettext_lazy as _


class SubjectForm(forms.Form):
    """Whom a request is about: an email address, or one lead (and its email)."""

    email = forms.EmailField(label=_("Email address"), required=False, max_length=254)
    lead = forms.IntegerField(label=_("Lead number"), required=False, min_value=1, max_value=2**62)

    def clean(self):
        data = super().clean()
        if not self.errors and not data.get("email") and not data.get("lead"):
            raise forms.ValidationError(_("Give an email address or a lead number."))
        return data


class ExportForm(SubjectForm):
    format = forms.ChoiceField(
        label=_("Format"), choices=[("html", "HTML"), ("json", "JSON")], required=False
    )


class EraseForm(SubjectForm):
    reason = forms.CharField(
        label=_("Why (kept in the log, without the person's data)"),
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("E.g. “Request by email of 3 March 2026 (Art. 17 GDPR)”."),
    )
    confirm = forms.BooleanField(label=_("I understand that this cannot be undone."), required=True)
