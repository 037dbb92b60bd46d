"""Claiming outbox rows (emails) so each goes out at most once, however many workers run."""

from collections.abc import Callable, Iterable

from django.db import transaction


def claim(queryset, *, field: str, pending: str, sending: str, size: int) -> list[int]:
    """Up to `size` rows of `queryset` whose `field` is `pending`, moved to `sending` and
    committed before the caller sends them: a doubled or retried task finds them taken,
    and a worker killed between claim and send leaves them in `sending`, never resent."""
    with transaction.atomic():
        ids = list(
            queryset.filter(**{field: pending})
            .order_by("pk")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:size]
        )
        queryset.filter(pk__in=ids, **{field: pending}).update(**{field: sending})
    return ids


def drain(
    queryset,
    *,
    field: str,
    pending: str,
    sending: str,
    sent: str,
    size: int,
    send: Callable[[object], dict],
    related: Iterable[str] = (),
) -> int:
    """Claim and send batches until nothing is pending; the number that reached `sent`.

    `send(row)` sends one claimed row and returns the columns to store on it, `field`
    among them (`sent`, or whatever state tells why not)."""
    count = 0
    while ids := claim(queryset, field=field, pending=pending, sending=sending, size=size):
        for row in queryset.filter(pk__in=ids).select_related(*related):
            changes = send(row)
            queryset.filter(pk=row.pk).update(**changes)
            count += changes[field] == sent
    return count
