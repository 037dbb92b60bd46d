from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from .models import ApiToken, IdempotencyKey, Scope, WebhookDelivery, WebhookSubscription
from .services import token_create, token_revoke, webhook_delivery_retry


class ApiTokenForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        label=_("scopes"), choices=Scope.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = ApiToken
        fields = ["user", "name", "scopes"]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    form = ApiTokenForm
    list_display = ["name", "prefix", "user", "scopes", "created_at", "last_used_at", "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["name", "prefix", "user__username"]
    raw_id_fields = ["user"]
    fields = [
        "user",
        "name",
        "scopes",
        "prefix",
        "created_by",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    readonly_fields = ["prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    def get_changeform_initial_data(self, request):
        return {"scopes": [Scope.READ, Scope.LEADS_WRITE, Scope.WEBHOOKS]}

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        # A new token goes through the service: a fresh key, stored hashed, shown once here.
        made = token_create(
            user=obj.user, name=obj.name, scopes=list(obj.scopes or []), created_by=request.user
        )
        obj.pk = made.token.pk
        obj.__dict__.update(made.token.__dict__)
        self.message_user(
            request,
            _("The key of “%(name)s”, shown only now: %(key)s")
            % {"name": obj.name, "key": made.key},
            messages.WARNING,
        )

    @admin.action(description=_("Revoke the selected tokens"))
    def revoke(self, request, queryset):
        now = timezone.now()
        count = sum(token_revoke(token=token, now=now) for token in queryset)
        self.message_user(
            request,
            ngettext("%d token revoked.", "%d tokens revoked.", count) % count,
            messages.SUCCESS,
        )


@admin.register(WebhookSubscription)
class WebhookSubscriptionAdmin(admin.ModelAdmin):
    list_display = ["name", "url", "user", "events", "is_active", "created_at"]
    list_filter = ["is_active"]
    raw_id_fields = ["user"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(admin.ModelAdmin):
    list_display = [
        "event",
        "subject",
        "subscription",
        "status",
        "attempts",
        "response_code",
        "next_attempt_at",
        "delivered_at",
    ]
    list_filter = ["status", "event"]
    readonly_fields = [f.name for f in WebhookDelivery._meta.fields]
    actions = ["retry"]

    def has_add_permission(self, request):
        return False

    @admin.action(description=_("Send again at the next tick"))
    def retry(self, request, queryset):
        now = timezone.now()
        count = sum(webhook_delivery_retry(delivery=d, now=now) for d in queryset)
        self.message_user(
            request,
            ngettext("%d delivery queued.", "%d deliveries queued.", count) % count,
            messages.SUCCESS,
        )


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    list_display = ["key", "user", "lead", "response_status", "created_at"]
    readonly_fields = [
        "user",
        "key",
        "fingerprint",
        "lead",
        "response_status",
        "response_body",
        "created_at",
    ]

    def has_add_permission(self, request):
        return False
