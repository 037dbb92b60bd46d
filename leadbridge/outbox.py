"""Claiming outbox rows (emails) so each goes out at most once, however many workers run."""

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
