"""The Integrations page: a user's API tokens, webhook subscriptions and deliveries."""

from datetime import datetime, time

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .forms import IntegrationTokenForm, SubscriptionForm, TokenForm
from .models import ApiToken, Integration, WebhookDelivery, WebhookSubscription
from .services import (
    integration_token_create,
    token_create,
    token_revoke,
    webhook_delivery_retry,
    webhook_ping,
    webhook_secret_rotate,
    webhook_subscription_create,
)


def _page(
    request,
    *,
    token_form=None,
    subscription_form=None,
    integration_form=None,
    new_key=None,
    new_secret=None,
    status=200,
):
    user = request.user
    now = timezone.now()
    integration_tokens = None
    if user.is_admin_role:
        integration_tokens = ApiToken.objects.filter(
            user__in=Integration.objects.values("user")
        ).order_by("-created_at", "-id")
        integration_form = integration_form or IntegrationTokenForm(today=timezone.localdate(now))
    return render(
        request,
        "integrations/integration_list.html",
        {
            "tokens": ApiToken.objects.filter(user=user),
            "subscriptions": WebhookSubscription.objects.filter(user=user),
            "deliveries": WebhookDelivery.objects.filter(subscription__user=user).select_related(
                "subscription"
            )[:50],
            "token_form": token_form or TokenForm(),
            "subscription_form": subscription_form or SubscriptionForm(),
            "integration_tokens": integration_tokens,
            "integration_form": integration_form,
            "new_key": new_key,
            "new_secret": new_secret,
            "now": now,
        },
        status=status,
    )


@login_required
def integration_list(request):
    return _page(request)


@login_required
@require_POST
def token_add(request):
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _page(request, token_form=form, status=422)
    made = token_create(
        user=request.user, name=form.cleaned_data["name"], scopes=form.cleaned_data["scopes"]
    )
    # The key is rendered into this one answer and never again: not stored, not in a redirect.
    return _page(request, new_key=made)


@login_required
@require_POST
def token_revoke_view(request, pk: int):
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    if token_revoke(token=token, now=timezone.now()):
        messages.success(request, _("Token “%(name)s” revoked.") % {"name": token.name})
    return redirect("integrations:list")


@login_required
@require_POST
def subscription_add(request):
    form = SubscriptionForm(request.POST)
    if not form.is_valid():
        return _page(request, subscription_form=form, status=422)
    subscription = webhook_subscription_create(user=request.user, **form.cleaned_data)
    return _page(request, new_secret=subscription)


@login_required
@require_POST
def subscription_toggle(request, pk: int):
    subscription = get_object_or_404(WebhookSubscription, pk=pk, user=request.user)
    WebhookSubscription.objects.filter(pk=pk).update(
        is_active=not subscription.is_active, updated_at=timezone.now()
    )
    return redirect("integrations:list")


@login_required
@require_POST
def subscription_delete(request, pk: int):
    get_object_or_404(WebhookSubscription, pk=pk, user=request.user).delete()
    messages.success(request, _("Subscription deleted."))
    return redirect("integrations:list")


@login_required
@require_POST
def delivery_retry(request, pk: int):
    delivery = get_object_or_404(WebhookDelivery, pk=pk, subscription__user=request.user)
    if webhook_delivery_retry(delivery=delivery, now=timezone.now()):
        messages.success(request, _("The delivery goes out again within a minute."))
    return redirect("integrations:list")


@login_required
@require_POST
def subscription_ping(request, pk: int):
    subscription = get_object_or_404(WebhookSubscription, pk=pk, user=request.user)
    if not subscription.is_active:
        messages.error(request, _("Resume the subscription first: paused ones get no deliveries."))
    else:
        webhook_ping(subscription=subscription, now=timezone.now())
        messages.success(request, _("A test delivery goes out within a minute."))
    return redirect("integrations:list")


@login_required
@require_POST
def subscription_rotate(request, pk: int):
    subscription = get_object_or_404(WebhookSubscription, pk=pk, user=request.user)
    subscription = webhook_secret_rotate(subscription=subscription, now=timezone.now())
    # The new secret is rendered into this one answer, as when the subscription was made.
    return _page(request, new_secret=subscription)


def _admin(request) -> None:
    if not request.user.is_admin_role:
        raise PermissionDenied


@login_required
@require_POST
def integration_token_add(request):
    _admin(request)
    now = timezone.now()
    form = IntegrationTokenForm(request.POST, today=timezone.localdate(now))
    if not form.is_valid():
        return _page(request, integration_form=form, status=422)
    data = form.cleaned_data
    expires_at = datetime.combine(
        data["expires_on"], time.min, tzinfo=timezone.get_current_timezone()
    )
    made = integration_token_create(
        name=data["name"],
        role=data["role"],
        scopes=data["scopes"],
        expires_at=expires_at,
        by=request.user,
        now=now,
    )
    return _page(request, new_key=made)


@login_required
@require_POST
def integration_token_revoke(request, pk: int):
    _admin(request)
    token = get_object_or_404(ApiToken, pk=pk, user__in=Integration.objects.values("user"))
    if token_revoke(token=token, now=timezone.now()):
        messages.success(request, _("Token “%(name)s” revoked.") % {"name": token.name})
    return redirect("integrations:list")
