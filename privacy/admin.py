from django.contrib import admin

from .models import ErasureLog, ExportLog, RetentionPolicy, Suppression


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(admin.ModelAdmin):
    list_display = ["__str__", "closed_lead_months", "import_file_days", "webhook_payload_days"]


class _ReadOnly(admin.ModelAdmin):
    """Logs are evidence: nobody edits them in the admin."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ErasureLog)
class ErasureLogAdmin(_ReadOnly):
    list_display = ["at", "trigger", "by", "reason"]
    list_filter = ["trigger"]


@admin.register(ExportLog)
class ExportLogAdmin(_ReadOnly):
    list_display = ["at", "format", "by", "subject_hash"]


@admin.register(Suppression)
class SuppressionAdmin(_ReadOnly):
    """Deleting an entry lets the person be added again (a new lawful basis)."""

    list_display = ["email_hash", "created_at"]
