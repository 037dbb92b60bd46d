from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .models import Escalation, FollowUp, Notification, SlaPolicy
from .services import followups_recompute


@admin.register(SlaPolicy)
class SlaPolicyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "channel",
        "material_printed_due",
        "material_printed_overdue",
        "callback_due",
        "web_call_due",
        "decision_due",
        "escalate_after",
        "reassign_after",
    ]
    actions = ["recompute_open_followups"]

    @admin.action(description=_("Recompute deadlines of open follow-ups with this policy"))
    def recompute_open_followups(self, request, queryset):
        total = sum(
            followups_recompute(policy=policy, by=request.user, now=timezone.now())
            for policy in queryset
        )
        self.message_user(
            request,
            ngettext("%d follow-up recomputed.", "%d follow-ups recomputed.", total) % total,
            messages.SUCCESS,
        )


class EscalationInline(admin.TabularInline):
    model = Escalation
    extra = 0
    readonly_fields = ["level", "at", "data"]
    can_delete = False


@admin.register(FollowUp)
class FollowUpAdmin(admin.ModelAdmin):
    list_display = [
        "lead",
        "kind",
        "assignee",
        "due_at",
        "overdue_at",
        "completed_at",
        "escalation_level",
    ]
    list_filter = ["kind", "escalation_level", ("completed_at", admin.EmptyFieldListFilter)]
    raw_id_fields = ["lead", "assignee", "completed_by"]
    readonly_fields = ["warned_at", "flagged_at", "escalation_level", "created_at", "updated_at"]
    inlines = [EscalationInline]


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "recipient", "kind", "count", "email_state", "read_at"]
    list_filter = ["kind", "email_state"]
    raw_id_fields = ["recipient", "followup", "lead"]
