from django import forms
from django.contrib import admin
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from followups.models import FollowUp

from .intake import ERASED_PERSON, lead_receive
from .models import LawfulBasis, Lead, LeadEvent, Source
from .services import erased_among


class LeadAdminForm(forms.ModelForm):
    class Meta:
        model = Lead
        fields = ["email"]  # the admin passes its own field list (ModelAdmin.get_form)

    def clean_email(self):
        email = self.cleaned_data.get("email", "")
        # A new lead only: lead_receive refuses an erased person's email.
        if self.instance.pk is None and email and erased_among([email]):
            raise forms.ValidationError(ERASED_PERSON)
        return email

    def clean(self):
        data = super().clean()
        if (
            self.instance.pk is None
            and data.get("lawful_basis") == LawfulBasis.CONSENT
            and not data.get("consent_at")
        ):
            self.add_error(
                "consent_at", _("Consent as the lawful basis needs the time it was given.")
            )
        return data


class FollowUpInline(admin.TabularInline):
    model = FollowUp
    extra = 0
    fields = ["kind", "assignee", "due_at", "overdue_at", "completed_at", "escalation_level"]
    readonly_fields = fields
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request, obj=None):
        return False


class LeadEventInline(admin.TabularInline):
    model = LeadEvent
    extra = 0
    fields = ["at", "kind", "actor", "data"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Lead)
class LeadAdmin(admin.ModelAdmin):
    form = LeadAdminForm
    list_display = ["__str__", "campaign", "channel", "stage", "owner", "team", "received_at"]
    list_filter = ["stage", "channel", "source", "team"]
    search_fields = ["company", "contact_name", "email", "external_id"]
    date_hierarchy = "received_at"
    raw_id_fields = ["campaign", "owner", "decided_by"]
    readonly_fields = [
        "dedup_key",
        "lawful_basis_source",
        "lawful_basis_at",
        "marketing_consent_text",
        "marketing_consent_requested_at",
        "marketing_consent_confirmed_at",
        "created_at",
        "updated_at",
    ]
    inlines = [FollowUpInline, LeadEventInline]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        if obj is None:  # a new lead is received like any other: it needs a basis
            form.base_fields["lawful_basis"].required = True
        return form

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # A lead added in the admin is received like any other: routing (unless an owner
        # or a team was chosen), follow-ups, timeline.
        fields = {
            f.name: getattr(obj, f.name)
            for f in Lead._meta.concrete_fields
            if f.name not in {"id", "campaign", "source", "dedup_key", "created_at", "updated_at"}
        }
        fields = {k: v for k, v in fields.items() if v not in (None, "")}
        intake = lead_receive(
            data=fields,
            source=Source.ADMIN,
            now=timezone.now(),
            actor=request.user,
            campaign=obj.campaign,
        )
        obj.pk = intake.lead.pk


@admin.register(LeadEvent)
class LeadEventAdmin(admin.ModelAdmin):
    """Read-only: the timeline is append-only."""

    list_display = ["at", "lead", "kind", "actor"]
    list_filter = ["kind"]
    raw_id_fields = ["lead", "followup", "actor"]

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_add_permission(self, request):
        return False
