"""The Integrations page: a user's API tokens, webhook subscriptions and deliveries."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .forms import SubscriptionForm, TokenForm
from .models import ApiToken, WebhookDelivery, WebhookSubscription
from .services import (
    token_create,
    token_revoke,
    webhook_delivery_retry,
    webhook_subscription_create,
)


def _page(
    request, *, token_form=None, subscription_form=None, new_key=None, new_secret=None, status=200
):
    user = request.user
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
            "new_key": new_key,
            "new_secret": new_secret,
            "now": timezone.now(),
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
