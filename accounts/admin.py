from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.utils.translation import gettext_lazy as _

from .models import RoutingRule, Team, User


class RoutingRuleInline(admin.TabularInline):
    model = RoutingRule
    extra = 0


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ["name", "region", "opens_at", "closes_at"]
    inlines = [RoutingRuleInline]


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = [
        "username",
        "first_name",
        "last_name",
        "role",
        "team",
        "is_absent",
        "daily_capacity",
    ]
    list_filter = ["role", "team", "is_absent", "is_active"]
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        (_("LeadBridge"), {"fields": ("role", "team", "is_absent", "daily_capacity", "language")}),
    )
    add_fieldsets = (
        *BaseUserAdmin.add_fieldsets,
        (_("LeadBridge"), {"fields": ("role", "team", "email")}),
    )
