from django.contrib import admin

from .models import Campaign, InfoMaterial


@admin.register(InfoMaterial)
class InfoMaterialAdmin(admin.ModelAdmin):
    list_display = ["title", "kind"]
    list_filter = ["kind"]
    search_fields = ["title"]


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "channel", "status", "starts_on", "ends_on", "owner", "team", "expected_responses"]
    list_filter = ["channel", "status", "team"]
    search_fields = ["name"]
    filter_horizontal = ["materials"]
    readonly_fields = ["form_key", "signed_off_by", "signed_off_at"]
    date_hierarchy = "starts_on"
