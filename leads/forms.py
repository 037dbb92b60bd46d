from django import forms
from django.utils.translation import gettext_lazy as _

from accounts.models import Role, User
from followups.forms import DateTimeLocalInput
from followups.models import FollowUp

from .models import Decision, RejectReason, Stage


class DecideForm(forms.Form):
    decision = forms.ChoiceField(label=_("Decision"), choices=Decision.choices)
    reason = forms.ChoiceField(
        label=_("Reason"), choices=[("", "—"), *RejectReason.choices], required=False
    )
    note = forms.CharField(label=_("Note"), required=False, max_length=2000)

    def clean(self):
        data = super().clean()
        if data.get("decision") == Decision.REJECTED:
            if not data.get("reason"):
                self.add_error("reason", _("Give a reason for the rejection."))
            elif data["reason"] == RejectReason.OTHER and not data.get("note", "").strip():
                self.add_error("note", _("Say why in the note."))
        return data


class QualifyForm(forms.Form):
    next_step = forms.ChoiceField(label=_("Next step"), choices=FollowUp.NextStep.choices)
    due_at = forms.DateTimeField(label=_("Date"), widget=DateTimeLocalInput())
    note = forms.CharField(label=_("Note"), required=False, max_length=2000)

    def __init__(self, *args, now=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.now = now

    def clean_due_at(self):
        due_at = self.cleaned_data["due_at"]
        if self.now and due_at <= self.now:
            raise forms.ValidationError(_("The date must be in the future."))
        return due_at


class MoveForm(forms.Form):
    stage = forms.ChoiceField(
        label=_("Stage"),
        choices=[
            (s.value, s.label)
            for s in (Stage.PRESALES, Stage.SALE, Stage.AFTERSALES, Stage.LOST, Stage.DISQUALIFIED)
        ],
    )
    reason = forms.CharField(label=_("Reason"), required=False, max_length=500)

    def clean(self):
        data = super().clean()
        if (
            data.get("stage") in {Stage.LOST, Stage.DISQUALIFIED}
            and not data.get("reason", "").strip()
        ):
            self.add_error("reason", _("Give a reason."))
        return data


class ReassignForm(forms.Form):
    leads = forms.ModelMultipleChoiceField(queryset=None, label=_("Leads"))
    to = forms.ModelChoiceField(queryset=None, label=_("New owner"))

    def __init__(self, *args, team, leads, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["leads"].queryset = leads
        self.fields["to"].queryset = User.objects.filter(team=team, role=Role.REP, is_active=True)


class NoteForm(forms.Form):
    text = forms.CharField(
        label=_("Note"), max_length=4000, widget=forms.Textarea(attrs={"rows": 3})
    )
