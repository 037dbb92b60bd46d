"""API tokens, idempotency claims and outbound webhooks for integrations.

A token is the credential of one integration (a website form, a fair-scanner
app, the ERP) acting as one user: it sees and may do exactly what that user
may, narrowed by its scopes. Only a SHA-256 of the key is stored; the key is
shown once, when it is made.
"""

import hashlib
import secrets
import uuid
from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from leadbridge.api.scopes import Scope
from leadbridge.lookups import InvalidatingQuerySet

from .netguard import validate_public_url

KEY_PREFIX = "lb_"
# The first characters of a key ("lb_" + 8), stored in clear so people can tell
# their tokens apart in lists and logs; too short to guess the rest from.
PREFIX_LENGTH = len(KEY_PREFIX) + 8


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(30)


DEFAULT_SCOPES = [Scope.READ, Scope.LEADS_WRITE, Scope.WEBHOOKS]


class Integration(models.Model):
    """A system that calls the API on its own (the ERP, a fair app): not a person.

    Its tokens act as its service account, a user without a password (nobody logs
    in as it) whose role decides what it sees: marketing (every lead, no sales
    actions) or administrator. Administrators make them.
    """

    name = models.CharField(_("name"), max_length=100, unique=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("service account"),
        on_delete=models.CASCADE,
        related_name="integration",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("integration")
        verbose_name_plural = _("integrations")

    def __str__(self) -> str:
        return self.name


class ApiTokenQuerySet(InvalidatingQuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True)


class ApiToken(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("acts as user"),
        on_delete=models.CASCADE,
        related_name="api_tokens",
    )
    name = models.CharField(
        _("name"), max_length=100, help_text=_("Which integration uses it, e.g. “Website form”.")
    )
    prefix = models.CharField(_("key starts with"), max_length=PREFIX_LENGTH, editable=False)
    # Lookups go by this hash (unique index): the key itself is never stored.
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    scopes = models.JSONField(_("scopes"), default=list)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)
    # Required for an integration's tokens; a request after it answers 401 saying so.
    expires_at = models.DateTimeField(_("expires"), null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def is_expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def has_scope(self, scope: str) -> bool:
        return scope in self.scopes

    def scope_labels(self) -> list[str]:
        labels = dict(Scope.choices)
        return [str(labels.get(scope, scope)) for scope in self.scopes]


class IdempotencyKey(models.Model):
    """The claim behind the Idempotency-Key header: one row per (user, key).

    The unique constraint is what makes two simultaneous requests with one key
    create one lead: the second insert waits for the first transaction and then
    fails, and the loser answers with what the winner stored.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    # sha256 of method, path and body: a key reused for a different request is refused.
    fingerprint = models.CharField(max_length=64)
    lead = models.ForeignKey(
        "leads.Lead", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_once_per_user")
        ]
        indexes = [
            # idempotency_keys_prune: delete claims older than the retention.
            models.Index(fields=["created_at"], name="idempotency_created"),
        ]

    def __str__(self) -> str:
        return self.key


class Event(models.TextChoices):
    LEAD_CREATED = "lead.created", _("A lead was received")
    FOLLOWUP_OVERDUE = "followup.overdue", _("A follow-up became overdue")
    LEAD_ACCEPTED = "lead.accepted", _("Sales accepted a lead")
    LEAD_REJECTED = "lead.rejected", _("Sales rejected a lead")
    LEAD_STAGE_CHANGED = "lead.stage_changed", _("A lead moved to another stage")
    LEAD_UPDATED = "lead.updated", _("A lead's contact details or owner changed")
    FOLLOWUP_COMPLETED = "followup.completed", _("A follow-up was done")
    PERSON_ERASED = "person.erased", _("A person's data was erased")
    # Sent on request only (a test delivery), never subscribed to.
    PING = "ping", _("Test delivery")


SUBSCRIBABLE_EVENTS = [(value, label) for value, label in Event.choices if value != Event.PING]


def _new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


class WebhookSubscription(models.Model):
    """An integration's URL for some events; it hears only about leads its user may see."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="webhook_subscriptions",
    )
    name = models.CharField(_("name"), max_length=100)
    url = models.URLField(_("URL"), max_length=500, validators=[validate_public_url])
    # Signs every delivery (HMAC-SHA256); kept in clear because we need it to sign.
    secret = models.CharField(max_length=64, default=_new_secret, editable=False)
    # After a rotation the old secret signs too (a second v1 value) until the overlap
    # ends, so a receiver can switch to the new one without losing a delivery.
    previous_secret = models.CharField(max_length=64, blank=True, editable=False)
    previous_secret_until = models.DateTimeField(
        _("old secret signs until"), null=True, blank=True, editable=False
    )
    events = models.JSONField(_("events"), default=list)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    # Updates invalidate integrations.services.SUBSCRIPTIONS (process-local copies).
    objects = InvalidatingQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("webhook subscription")
        verbose_name_plural = _("webhook subscriptions")

    def __str__(self) -> str:
        return f"{self.name} → {self.url}"

    def secrets_signing(self, now: datetime) -> list[str]:
        """The secrets a delivery at `now` is signed with: the current one first."""
        old = self.previous_secret
        if old and self.previous_secret_until is not None and now < self.previous_secret_until:
            return [self.secret, old]
        return [self.secret]

    def event_labels(self) -> list[str]:
        labels = dict(Event.choices)
        return [str(labels.get(event, event)) for event in self.events]


class WebhookDelivery(models.Model):
    """One event for one subscription: the outbox row the delivery task works from.

    pending → sending (claimed) → delivered, or back to pending with a later
    next_attempt_at (exponential backoff), or failed after the last attempt.
    Delivery is at least once: a worker killed mid-send leaves the row in
    sending, and it is taken again once the claim is stale. Receivers dedupe on
    the event id.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENDING = "sending", _("Sending")
        DELIVERED = "delivered", _("Delivered")
        FAILED = "failed", _("Failed")

    subscription = models.ForeignKey(
        WebhookSubscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    event = models.CharField(_("event"), max_length=30, choices=Event)
    event_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    # What the event is about, e.g. "lead:42" or "followup:17": with the unique
    # constraint below an event reaches a subscription at most once.
    subject = models.CharField(max_length=40)
    lead = models.ForeignKey(
        "leads.Lead", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    followup = models.ForeignKey(
        "followups.FollowUp", on_delete=models.CASCADE, null=True, blank=True, related_name="+"
    )
    occurred_at = models.DateTimeField(_("occurred"))
    # Written with the event (the lead as it was then), so every retry sends the same body.
    payload = models.JSONField(null=True, blank=True)
    status = models.CharField(_("status"), max_length=10, choices=Status, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), null=True, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt"), null=True, blank=True)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    response_code = models.PositiveSmallIntegerField(_("response code"), null=True, blank=True)
    last_error = models.CharField(_("last error"), max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "event", "subject"],
                name="webhook_event_once_per_subscription",
            ),
        ]
        indexes = [
            # webhook_deliveries_send: due pending rows, oldest first.
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=Q(status="pending"),
                name="webhook_delivery_due",
            ),
            # webhook_deliveries_send: claims left behind by a killed worker.
            models.Index(
                fields=["last_attempt_at"],
                condition=Q(status="sending"),
                name="webhook_delivery_stale",
            ),
            # webhook_deliveries_send: is an earlier event of this lead still unfinished?
            models.Index(
                fields=["subscription", "lead", "id"],
                condition=Q(status__in=["pending", "sending"]),
                name="webhook_delivery_unfinished",
            ),
            # The integrations page: a subscription's latest deliveries.
            models.Index(fields=["subscription", "-created_at"], name="webhook_delivery_recent"),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.subject} → {self.subscription_id} ({self.status})"

    def is_due(self, now: datetime) -> bool:
        return self.status == self.Status.PENDING and (
            self.next_attempt_at is None or self.next_attempt_at <= now
        )
