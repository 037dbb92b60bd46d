"""Notifications: their emails, the reps' daily digest and the managers' weekly summary."""

from __future__ import annotations

import logging
from datetime import datetime

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from accounts.models import Role, User
from leadbridge import outbox

from .models import DigestRun, FollowUp, Notification

log = logging.getLogger(__name__)

# --- notifications ---------------------------------------------------------------


def notification_emails_send(*, now: datetime, batch_size: int = 200) -> int:
    """Email pending notifications, each at most once.

    A row is claimed (pending → sending) and committed before the email goes out,
    so a retried or doubled task cannot send it again; a worker killed between
    claim and send leaves it in "sending" for a person to see, never resent.
    """

    def send(notification: Notification) -> dict:
        state = _email_one(notification)
        return {
            "email_state": state,
            "emailed_at": now if state == Notification.EmailState.SENT else None,
        }

    return outbox.drain(
        Notification.objects,
        field="email_state",
        pending=Notification.EmailState.PENDING,
        sending=Notification.EmailState.SENDING,
        sent=Notification.EmailState.SENT,
        size=batch_size,
        related=("recipient", "followup", "lead", "campaign"),
        send=send,
    )


def _email_one(notification: Notification) -> str:
    recipient = notification.recipient
    if not recipient.email:
        return Notification.EmailState.NONE
    items = FollowUp.objects.filter(pk__in=notification.followup_ids).select_related("lead")
    with translation.override(recipient.language):
        subject = notification.subject_text()
        lines = [subject, ""]
        if notification.note:
            lines += [_("Comment:"), notification.note, ""]
        if notification.campaign_id:
            lines.append(f"{settings.LEADBRIDGE_BASE_URL}/campaigns/{notification.campaign_id}/")
        for item in items.order_by("due_at"):
            due = date_format(timezone.localtime(item.due_at), "SHORT_DATETIME_FORMAT")
            lines.append(f"- {item.get_kind_display()} · {item.lead} · {_('due')} {due}")
            lines.append(f"  {settings.LEADBRIDGE_BASE_URL}/leads/{item.lead_id}/")
        if notification.count > len(notification.followup_ids):
            lines.append(
                _("… and %(n)d more in your queue.")
                % {"n": notification.count - len(notification.followup_ids)}
            )
    try:
        send_mail(f"[LeadBridge] {subject}", "\n".join(lines), None, [recipient.email])
    except Exception:  # SMTP trouble must not block the queue; the row says failed
        log.exception("notification %s: email failed", notification.pk)
        return Notification.EmailState.FAILED
    return Notification.EmailState.SENT


def notifications_mark_read(*, user: User, now: datetime, ids: list[int] | None = None) -> int:
    unread = Notification.objects.filter(recipient=user, read_at__isnull=True)
    if ids is not None:
        unread = unread.filter(pk__in=ids)
    return unread.update(read_at=now)


def daily_digest_send(*, now: datetime) -> int:
    """One email per rep and day: what is overdue and what is due today."""
    today = timezone.localdate(now)
    end_of_day = timezone.make_aware(timezone.datetime.combine(today, timezone.datetime.max.time()))
    sent = 0
    reps = User.objects.filter(role=Role.REP, is_active=True, is_absent=False).exclude(email="")
    for rep in reps:
        open_items = FollowUp.objects.open().filter(assignee=rep).select_related("lead")
        overdue = list(open_items.filter(overdue_at__lte=now).order_by("overdue_at")[:50])
        due_today = list(
            open_items.filter(overdue_at__gt=now, due_at__lte=end_of_day).order_by("due_at")[:50]
        )
        if not overdue and not due_today:
            continue
        if not digest_claim(recipient=rep, kind=DigestRun.Kind.DAILY, day=today, now=now):
            continue
        with translation.override(rep.language):
            lines = [_("Overdue: %(n)d") % {"n": len(overdue)}]
            lines += [f"  - {f.get_kind_display()}: {f.lead}" for f in overdue]
            lines += ["", _("Due today: %(n)d") % {"n": len(due_today)}]
            lines += [f"  - {f.get_kind_display()}: {f.lead}" for f in due_today]
            subject = _("Your follow-ups for %(day)s") % {
                "day": date_format(today, "SHORT_DATE_FORMAT")
            }
        send_mail(f"[LeadBridge] {subject}", "\n".join(lines), None, [rep.email])
        sent += 1
    return sent


def digest_claim(*, recipient: User, kind: str, day, now: datetime) -> bool:
    """True for the one caller that may send this digest (unique recipient/kind/day)."""
    try:
        with transaction.atomic():
            DigestRun.objects.create(recipient=recipient, kind=kind, day=day, sent_at=now)
    except IntegrityError:
        return False
    return True
