from django.contrib import admin
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .models import Campaign, InfoMaterial, MaterialEmail, OptInEmail


@admin.register(InfoMaterial)
class InfoMaterialAdmin(admin.ModelAdmin):
    list_display = ["title", "kind"]
    list_filter = ["kind"]
    search_fields = ["title"]


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "channel",
        "status",
        "starts_on",
        "ends_on",
        "owner",
        "team",
        "expected_responses",
    ]
    list_filter = ["channel", "status", "team"]
    search_fields = ["name"]
    filter_horizontal = ["materials"]
    readonly_fields = ["form_key", "signed_off_by", "signed_off_at"]
    date_hierarchy = "starts_on"


@admin.register(MaterialEmail)
class MaterialEmailAdmin(admin.ModelAdmin):
    list_display = ["to", "lead", "material", "state", "created_at", "sent_at", "error"]
    list_filter = ["state"]
    search_fields = ["to"]
    raw_id_fields = ["lead", "followup"]
    readonly_fields = ["created_at", "sent_at", "error"]
    actions = ["send_again"]

    @admin.action(description=gettext_lazy("Send again (failed or stuck in sending)"))
    def send_again(self, request, queryset):
        changed = queryset.exclude(state=MaterialEmail.State.SENT).update(
            state=MaterialEmail.State.PENDING, error=""
        )
        self.message_user(
            request, _("%(n)d emails will go out with the worker's next run.") % {"n": changed}
        )


@admin.register(OptInEmail)
class OptInEmailAdmin(admin.ModelAdmin):
    list_display = ["lead", "state", "created_at", "sent_at", "error"]
    list_filter = ["state"]
    raw_id_fields = ["lead"]
    readonly_fields = ["created_at", "sent_at", "error"]
    actions = ["send_again"]

    @admin.action(description=gettext_lazy("Send again (failed or stuck in sending)"))
    def send_again(self, request, queryset):
        changed = queryset.exclude(state=OptInEmail.State.SENT).update(
            state=OptInEmail.State.PENDING, error=""
        )
        self.message_user(
            request, _("%(n)d emails will go out with the worker's next run.") % {"n": changed}
        )
