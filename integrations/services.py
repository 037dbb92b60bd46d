"""Tokens, idempotency claims and webhook deliveries.

Webhooks are an outbox: the change that causes an event (a lead received, a
follow-up flagged overdue, a decision) inserts delivery rows in its own
transaction; the beat-driven deliver_webhooks_task claims due rows and POSTs
them. Retries are rows with a later next_attempt_at, never Celery ETAs.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, F, OuterRef, Q

from accounts.models import Role, User
from followups.models import FollowUp
from leadbridge import lookups
from leads.models import Lead

from . import netguard
from .models import (
    DEFAULT_SCOPES,
    PREFIX_LENGTH,
    ApiToken,
    Event,
    IdempotencyKey,
    Integration,
    Scope,
    WebhookDelivery,
    WebhookSubscription,
    hash_key,
    new_key,
)

log = logging.getLogger(__name__)


# --- tokens ----------------------------------------------------------------------


@dataclass
class NewToken:
    token: ApiToken
    key: str  # shown to the person once; only its hash is stored


def token_create(
    *,
    user: User,
    name: str,
    scopes: list[str] | None = None,
    created_by: User | None = None,
    expires_at: datetime | None = None,
) -> NewToken:
    scopes = list(dict.fromkeys(scopes if scopes is not None else DEFAULT_SCOPES))
    unknown = set(scopes) - set(Scope.values)
    if unknown:
        raise ValueError(f"unknown scopes: {', '.join(sorted(unknown))}")
    key = new_key()
    token = ApiToken.objects.create(
        user=user,
        name=name,
        prefix=key[:PREFIX_LENGTH],
        key_hash=hash_key(key),
        scopes=scopes,
        created_by=created_by or user,
        expires_at=expires_at,
    )
    return NewToken(token, key)


INTEGRATION_ROLES = (Role.MARKETING, Role.ADMIN)


def integration_token_create(
    *,
    name: str,
    role: str,
    scopes: list[str],
    expires_at: datetime,
    by: User,
    now: datetime,
) -> NewToken:
    """A token for an integration (made with its service account the first time).

    The integration is found by name: a second token for it (to rotate keys) acts as
    the same service account; `role` applies when the account is made.
    """
    if not (by.is_admin_role):
        raise PermissionError("only administrators make integration tokens")
    if role not in INTEGRATION_ROLES:
        raise ValueError(f"an integration acts as marketing or administrator, not {role}")
    if expires_at <= now:
        raise ValueError("the expiry must be in the future")
    with transaction.atomic():
        integration = Integration.objects.select_related("user").filter(name=name).first()
        if integration is None:
            user = User(
                username=f"integration-{uuid.uuid4().hex[:12]}",
                first_name=name[:150],
                role=role,
            )
            user.set_unusable_password()  # a service account: nobody logs in as it
            user.save()
            integration = Integration.objects.create(name=name, user=user, created_by=by)
        return token_create(
            user=integration.user,
            name=name,
            scopes=scopes,
            created_by=by,
            expires_at=expires_at,
        )


def token_revoke(*, token: ApiToken, now: datetime) -> bool:
    """Revoke once; the next request with the key is refused. False if it already was."""
    revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now)
    if revoked:
        token.revoked_at = now
    return bool(revoked)


# last_used_at is for people ("is this token still in use?"): writing it on every
# request would add a row update to each API call, so it is refreshed at most
# once per interval.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class TokenExpired(Exception):
    def __init__(self, token: ApiToken):
        super().__init__(f"token {token.pk} expired at {token.expires_at}")
        self.token = token


def token_authenticate(*, key: str, now: datetime) -> ApiToken | None:
    """The active token with this key, its user loaded; None for unknown or revoked keys.

    Raises TokenExpired for a key past its expiry (the answer says so, unlike for an
    unknown key: the caller is the key's owner, and needs to know what to renew).
    """
    key_hash = hash_key(key)
    # Read on every API request: kept per process (leadbridge.lookups; revoking a token
    # and changing its user invalidate). Each request gets its own copies.
    token = lookups.intake.get(
        ("token", key_hash),
        lambda: ApiToken.objects.active().select_related("user").filter(key_hash=key_hash).first(),
    )
    if token is None or not token.user.is_active:
        return None
    if token.is_expired(now):
        raise TokenExpired(token)
    token = copy.copy(token)
    token.user = copy.copy(token.user)
    if token.last_used_at is None or token.last_used_at < now - LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION)
        ).update(last_used_at=now)
        token.last_used_at = now
    return token


# --- idempotency -----------------------------------------------------------------


class IdempotencyMismatch(Exception):
    """The key was used before for a different request."""


def idempotency_fingerprint(*, method: str, path: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), b"\0", path.encode(), b"\0", body):
        digest.update(part)
    return digest.hexdigest()


def idempotency_claim(
    *, user: User, key: str, fingerprint: str, now: datetime
) -> tuple[IdempotencyKey, bool]:
    """Claim the key inside the caller's transaction: (row, True) if this request owns it.

    A concurrent request with the same key blocks on the unique index until the
    first commits, then gets (the winner's row, False). If the winner rolled
    back, the claim goes to the waiting request instead.
    """
    try:
        with transaction.atomic():
            return (
                IdempotencyKey.objects.create(
                    user=user, key=key, fingerprint=fingerprint, created_at=now
                ),
                True,
            )
    except IntegrityError:
        existing = IdempotencyKey.objects.get(user=user, key=key)
    if existing.fingerprint != fingerprint:
        raise IdempotencyMismatch(key)
    return existing, False


IDEMPOTENCY_RETENTION = timedelta(hours=24)


def idempotency_keys_prune(*, now: datetime) -> int:
    deleted, _by_model = IdempotencyKey.objects.filter(
        created_at__lt=now - IDEMPOTENCY_RETENTION
    ).delete()
    return deleted


# --- webhook subscriptions and enqueueing ------------------------------------------


def webhook_subscription_create(
    *, user: User, name: str, url: str, events: list[str]
) -> WebhookSubscription:
    unknown = set(events) - set(Event.values)
    if unknown or not events:
        raise ValueError(f"unknown events: {', '.join(sorted(unknown)) or '(none)'}")
    netguard.validate_public_url(url)
    return WebhookSubscription.objects.create(
        user=user, name=name, url=url, events=list(dict.fromkeys(events))
    )


def webhook_ping(*, subscription: WebhookSubscription, now: datetime) -> WebhookDelivery:
    """A test delivery: signed and sent like any event, by the next delivery tick."""
    event_id = uuid.uuid4()
    delivery = WebhookDelivery.objects.create(
        subscription=subscription,
        event=Event.PING,
        event_id=event_id,
        subject=f"ping:{event_id.hex}",
        occurred_at=now,
        next_attempt_at=now,
    )
    delivery.payload = _envelope(delivery, _Snapshots())
    delivery.payload["data"] = {"subscription": subscription.pk}
    WebhookDelivery.objects.filter(pk=delivery.pk).update(payload=delivery.payload)
    return delivery


SECRET_OVERLAP = timedelta(hours=24)


def webhook_secret_rotate(
    *, subscription: WebhookSubscription, now: datetime, overlap: timedelta = SECRET_OVERLAP
) -> WebhookSubscription:
    """A new secret signs from now on; the current one signs too until now + overlap.

    A rotation during an overlap ends the older secret at once: two secrets at most.
    """
    from .models import _new_secret

    WebhookSubscription.objects.filter(pk=subscription.pk).update(
        # Read in the UPDATE itself: a second rotation at once (a double submit) or a
        # stale instance must not throw away the secret just shown.
        previous_secret=F("secret"),
        previous_secret_until=now + overlap,
        secret=_new_secret(),
        updated_at=now,
    )
    subscription.refresh_from_db()
    return subscription


def _subscriptions_for(event: str) -> list[WebhookSubscription]:
    """Active subscriptions of active users to one event: at most one query, usually empty.

    The subscription table is small, so the event filter runs in Python (a JSON
    containment lookup is not available on SQLite).
    """
    # Read for every lead received, usually empty: kept per process (leadbridge.lookups;
    # a user's changes count too: active, role and team decide what they hear).
    return lookups.intake.get(
        ("webhook-subscriptions", event),
        lambda: [
            sub
            for sub in WebhookSubscription.objects.filter(is_active=True, user__is_active=True)
            .select_related("user")
            .only("pk", "events", "user")
            if event in sub.events
        ],
    )


def webhook_deliveries_for_leads(
    *, event: str, lead_ids: list[int], now: datetime, subject: str | None = None
) -> int:
    """Queue lead.created / lead.accepted / lead.rejected for subscribers who may see the leads.

    Called inside the transaction that made the change (lead_receive,
    lead_decide, bulk intake): the delivery exists exactly when the change does,
    and its body shows the lead as the change left it. With no subscriber this
    is one query. `subject` names an event that can happen to a lead more than once
    (lead.updated: its timeline entry); by default the lead itself.
    """
    if not lead_ids:
        return 0
    subscriptions = _subscriptions_for(event)
    created = 0
    snapshots = _Snapshots()
    for sub in subscriptions:
        visible = list(
            Lead.objects.visible_to(sub.user).filter(pk__in=lead_ids).values_list("pk", flat=True)
        )
        snapshots.read(lead_ids=visible, now=now)
        deliveries = [
            _delivery(sub, event, subject or f"lead:{pk}", now, snapshots, lead_id=pk)
            for pk in visible
        ]
        # A unique (subscription, event, subject) makes a repeated enqueue a no-op.
        WebhookDelivery.objects.bulk_create(deliveries, batch_size=2000, ignore_conflicts=True)
        created += len(deliveries)
    return created


def webhook_lead_event(*, event: str, lead: Lead, now: datetime, subject: str | None = None) -> int:
    return webhook_deliveries_for_leads(event=event, lead_ids=[lead.pk], now=now, subject=subject)


# The sweep passes the same `now` to each of its batches: subscriptions are read
# once per sweep, so a sweep with no subscriber costs one query in all.
_overdue_subscriptions: tuple[datetime | None, float, list] = (None, 0.0, [])


def _overdue_subscribers(now: datetime) -> list[WebhookSubscription]:
    global _overdue_subscriptions
    cached_now, read_at, subs = _overdue_subscriptions
    if cached_now != now or time.monotonic() - read_at > 60:
        subs = _subscriptions_for(Event.FOLLOWUP_OVERDUE)
        _overdue_subscriptions = (now, time.monotonic(), subs)
    return subs


def webhook_deliveries_for_overdue(*, followup_ids: list[int], now: datetime) -> int:
    """Queue followup.overdue for follow-ups the sweep just flagged (level 1).

    Runs inside the sweep batch's transaction (followups.services._sweep_batch):
    set-based, one SELECT and one bulk INSERT per subscription.
    """
    if not followup_ids:
        return 0
    return _followup_deliveries(
        event=Event.FOLLOWUP_OVERDUE,
        followup_ids=followup_ids,
        now=now,
        subscriptions=_overdue_subscribers(now),
    )


def webhook_followups_completed(*, followup_ids: list[int], now: datetime) -> int:
    """Queue followup.completed, inside the transaction that closed the follow-ups."""
    if not followup_ids:
        return 0
    return _followup_deliveries(
        event=Event.FOLLOWUP_COMPLETED,
        followup_ids=followup_ids,
        now=now,
        subscriptions=_subscriptions_for(Event.FOLLOWUP_COMPLETED),
    )


def _followup_deliveries(
    *, event: str, followup_ids: list[int], now: datetime, subscriptions: list
) -> int:
    """One SELECT and one bulk INSERT per subscription; a follow-up's event happens once."""
    if not subscriptions:
        return 0
    followups = FollowUp.objects.filter(pk__in=followup_ids)
    created = 0
    snapshots = _Snapshots()
    for sub in subscriptions:
        rows = list(
            followups.filter(lead__in=Lead.objects.visible_to(sub.user)).values_list(
                "pk", "lead_id"
            )
        )
        snapshots.read(
            lead_ids=[lead_id for _pk, lead_id in rows],
            followup_ids=[pk for pk, _lead_id in rows],
            now=now,
        )
        deliveries = [
            _delivery(
                sub,
                event,
                f"followup:{pk}",
                now,
                snapshots,
                lead_id=lead_id,
                followup_id=pk,
            )
            for pk, lead_id in rows
        ]
        if deliveries:
            WebhookDelivery.objects.bulk_create(deliveries, batch_size=2000, ignore_conflicts=True)
            created += len(deliveries)
    return created


# --- delivering -------------------------------------------------------------------

SIGNATURE_HEADER = "LeadBridge-Signature"
MAX_ATTEMPTS = 10
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=6)
# A claim older than this belongs to a worker that died mid-send: take it again.
STALE_CLAIM = timedelta(minutes=5)


def backoff(attempts: int) -> timedelta:
    """Wait after the attempts-th failure: 30 s, 1 min, 2 min, … capped at 6 h."""
    return min(BACKOFF_BASE * (2 ** max(attempts - 1, 0)), BACKOFF_CAP)


def webhook_signature(*, secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 over "<timestamp>.<body>", hex; sent as `t=<timestamp>,v1=<hex>`."""
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return mac.hexdigest()


def webhook_verify(
    *, secret: str, header: str, body: bytes, now: float, tolerance: int = 300
) -> bool:
    """What a receiver does; used by the tests and shown in the API docs.

    During a secret rotation the header carries two v1 values (new secret, old
    secret): one matching is enough.
    """
    parts = [item.strip().split("=", 1) for item in header.split(",") if "=" in item]
    stamps = [value for key, value in parts if key == "t"]
    try:
        timestamp = int(stamps[0]) if len(stamps) == 1 else None
    except ValueError:
        return False
    if timestamp is None or abs(now - timestamp) > tolerance:
        return False
    expected = webhook_signature(secret=secret, timestamp=timestamp, body=body)
    return any(hmac.compare_digest(expected, value) for key, value in parts if key == "v1")


class _Snapshots:
    """The leads and follow-ups of an event as it happens, JSON-ready, each read once."""

    def __init__(self):
        self.leads: dict[int, dict | None] = {}
        self.followups: dict[int, dict | None] = {}

    def read(self, *, lead_ids, followup_ids=(), now: datetime) -> None:
        from followups.api import FollowUpSerializer
        from leads.api import LeadSerializer

        missing = {pk for pk in lead_ids if pk not in self.leads}
        for lead in Lead.objects.filter(pk__in=missing):
            self.leads[lead.pk] = _json(LeadSerializer(lead).data)
        missing = {pk for pk in followup_ids if pk not in self.followups}
        for followup in FollowUp.objects.filter(pk__in=missing):
            self.followups[followup.pk] = _json(
                FollowUpSerializer(followup, context={"now": now}).data
            )


def _json(data) -> dict:
    return json.loads(json.dumps(data, default=str))


def _delivery(sub, event, subject, now, snapshots: _Snapshots, **about) -> WebhookDelivery:
    """A delivery row whose body is written now: the state when the event happened."""
    delivery = WebhookDelivery(
        subscription=sub,
        event=event,
        subject=subject,
        event_id=uuid.uuid4(),
        occurred_at=now,
        next_attempt_at=now,
        **about,
    )
    delivery.payload = _envelope(delivery, snapshots)
    return delivery


def _envelope(delivery: WebhookDelivery, snapshots: _Snapshots) -> dict:
    data: dict = {}
    if delivery.lead_id:
        data["lead"] = snapshots.leads.get(delivery.lead_id)
    if delivery.followup_id:
        data["followup"] = snapshots.followups.get(delivery.followup_id)
    return {
        "id": str(delivery.event_id),
        "event": delivery.event,
        "occurred_at": delivery.occurred_at.isoformat(),
        "data": data,
    }


def webhook_payload(delivery: WebhookDelivery) -> dict:
    """The body of a delivery queued without one (before bodies were written at the
    event): the event and the current state of its lead (and follow-up)."""
    snapshots = _Snapshots()
    snapshots.read(
        lead_ids=[delivery.lead_id] if delivery.lead_id else [],
        followup_ids=[delivery.followup_id] if delivery.followup_id else [],
        now=delivery.occurred_at,
    )
    return _envelope(delivery, snapshots)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer, not an instruction: POST bodies are not re-sent elsewhere."""

    def redirect_request(self, *args, **kwargs):
        return None


# No proxy from the environment: the address check below must see the receiver itself.
_opener = urllib.request.build_opener(
    urllib.request.ProxyHandler({}),
    _NoRedirect,
    netguard.PublicHTTPHandler,
    netguard.PublicHTTPSHandler,
)


def _post(*, url: str, body: bytes, headers: dict, timeout: float) -> tuple[int | None, str]:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with _opener.open(request, timeout=timeout) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, f"HTTP {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, str(reason)[:500] or exc.__class__.__name__


# A subscription's deliveries about the same lead that are not done yet.
_unfinished = WebhookDelivery.objects.filter(
    subscription=OuterRef("subscription"),
    lead=OuterRef("lead"),
    status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.SENDING],
)


def _claim(*, now: datetime, size: int) -> list[int]:
    """Take up to `size` due deliveries: pending and due, or claims gone stale."""
    due = Q(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now) | Q(
        status=WebhookDelivery.Status.SENDING, last_attempt_at__lte=now - STALE_CLAIM
    )
    with transaction.atomic():
        ids = list(
            WebhookDelivery.objects.filter(
                status=WebhookDelivery.Status.PENDING,
                next_attempt_at__lte=now,
                subscription__is_active=True,
            )
            # Per lead in order: a later event waits while an earlier one is still
            # pending or sending (delivered or failed for good lets it go).
            .exclude(Exists(_unfinished.filter(pk__lt=OuterRef("pk"))))
            .order_by("next_attempt_at", "pk")
            .select_for_update(skip_locked=True, of=("self",))
            .values_list("pk", flat=True)[:size]
        )
        if len(ids) < size:
            ids += list(
                WebhookDelivery.objects.filter(
                    status=WebhookDelivery.Status.SENDING,
                    last_attempt_at__lte=now - STALE_CLAIM,
                    subscription__is_active=True,
                )
                .order_by("last_attempt_at", "pk")
                .select_for_update(skip_locked=True, of=("self",))
                .values_list("pk", flat=True)[: size - len(ids)]
            )
        if not ids:
            return []
        # The guarded update: only rows still due move to sending, so a row is
        # claimed by one worker however many run (on SQLite the IMMEDIATE
        # transaction serialises claimers instead of the row locks).
        moved = WebhookDelivery.objects.filter(due, pk__in=ids).update(
            status=WebhookDelivery.Status.SENDING,
            attempts=F("attempts") + 1,
            last_attempt_at=now,
            updated_at=now,
        )
        if moved != len(ids):
            raise RuntimeError(f"claimed {len(ids)} webhook deliveries but moved {moved}")
    return ids


def _attempt(delivery: WebhookDelivery, *, now: datetime, timeout: float) -> str:
    if delivery.payload is None:
        delivery.payload = webhook_payload(delivery)
        WebhookDelivery.objects.filter(pk=delivery.pk).update(payload=delivery.payload)
    # sort_keys: the stored payload comes back from jsonb in another key order,
    # and a retry must send the very same body.
    body = json.dumps(
        delivery.payload, separators=(",", ":"), ensure_ascii=False, sort_keys=True
    ).encode()
    timestamp = int(now.timestamp())
    signature = ",".join(
        "v1=" + webhook_signature(secret=secret, timestamp=timestamp, body=body)
        for secret in delivery.subscription.secrets_signing(now)
    )
    code, error = _post(
        url=delivery.subscription.url,
        body=body,
        headers={
            "Content-Type": "application/json",
            "User-Agent": f"LeadBridge-Webhooks/{settings.LEADBRIDGE_VERSION}",
            "LeadBridge-Event": delivery.event,
            "LeadBridge-Delivery": str(delivery.event_id),
            SIGNATURE_HEADER: f"t={timestamp},{signature}",
        },
        timeout=timeout,
    )
    changes: dict = {"response_code": code, "updated_at": now}
    if code is not None and 200 <= code < 300:
        changes.update(
            status=WebhookDelivery.Status.DELIVERED,
            delivered_at=now,
            last_error="",
            next_attempt_at=None,
        )
    elif delivery.attempts >= MAX_ATTEMPTS:
        changes.update(status=WebhookDelivery.Status.FAILED, last_error=error, next_attempt_at=None)
    else:
        changes.update(
            status=WebhookDelivery.Status.PENDING,
            last_error=error,
            next_attempt_at=now + backoff(delivery.attempts),
        )
    # Guarded on our own claim: if the row was reclaimed meanwhile, leave it to that worker.
    WebhookDelivery.objects.filter(
        pk=delivery.pk,
        status=WebhookDelivery.Status.SENDING,
        last_attempt_at=delivery.last_attempt_at,
    ).update(**changes)
    return changes["status"]


@dataclass
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0

    def __str__(self) -> str:
        return f"delivered {self.delivered}, retrying {self.retrying}, failed {self.failed}"


def webhook_deliveries_send(
    *, now: datetime, batch_size: int = 20, timeout: float | None = None, max_batches: int = 50
) -> DeliveryReport:
    """Deliver what is due, in claimed batches; safe with many workers.

    Steps, per batch:
    1. claim due rows (FOR UPDATE SKIP LOCKED + guarded UPDATE to sending,
       attempts + 1) and commit, so no other worker takes them; a row waits
       while an earlier event of its lead (same subscription) is unfinished;
    2. sign the body written when the event happened (retries send the same
       body), POST it with a timeout;
    3. 2xx → delivered; otherwise back to pending at now + backoff, or failed
       after MAX_ATTEMPTS. A worker killed between 1 and 3 leaves the row in
       sending; it is taken again after STALE_CLAIM (at least once delivery).
    Bounded by max_batches so one tick never runs past the beat interval.
    """
    timeout = timeout if timeout is not None else settings.LEADBRIDGE_WEBHOOK_TIMEOUT
    report = DeliveryReport()
    for _batch in range(max_batches):
        ids = _claim(now=now, size=batch_size)
        if not ids:
            break
        for delivery in WebhookDelivery.objects.filter(pk__in=ids).select_related("subscription"):
            status = _attempt(delivery, now=now, timeout=timeout)
            if status == WebhookDelivery.Status.DELIVERED:
                report.delivered += 1
            elif status == WebhookDelivery.Status.FAILED:
                report.failed += 1
            else:
                report.retrying += 1
        # No early stop on a short batch: a delivery just made may free the next
        # event of its lead, which this tick then sends too.
    return report


def webhook_delivery_retry(*, delivery: WebhookDelivery, now: datetime) -> bool:
    """A person asks for a failed or waiting delivery to go out at the next tick."""
    return bool(
        WebhookDelivery.objects.filter(
            pk=delivery.pk,
            status__in=[WebhookDelivery.Status.FAILED, WebhookDelivery.Status.PENDING],
        ).update(status=WebhookDelivery.Status.PENDING, next_attempt_at=now, updated_at=now)
    )
