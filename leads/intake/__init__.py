"""Lead intake: the one pipeline every path calls (pipeline.py), its router and writers."""

from __future__ import annotations

from datetime import datetime

from django.utils.translation import gettext_lazy as _

from .pipeline import (
    MERGEABLE,
    OnDuplicate,
    Received,
    Status,
    lead_merge_into,
    leads_receive,
)

__all__ = [
    "ERASED_PERSON",
    "MERGEABLE",
    "OnDuplicate",
    "PersonErased",
    "Received",
    "Status",
    "lead_merge_into",
    "lead_receive",
    "leads_receive",
]

# An intake path refuses an erased person (privacy.services.suppressed_emails) with this.
ERASED_PERSON = _("This person asked to be erased; record a new lawful basis to add them again.")


class PersonErased(ValueError):
    """The lead's email is on the suppression list of erased people."""

    def __init__(self):
        super().__init__(str(ERASED_PERSON))


def lead_receive(
    *,
    data: dict,
    source: str,
    now: datetime,
    actor=None,
    campaign=None,
    on_duplicate: str = OnDuplicate.CREATE,
    allow_suppressed: bool = False,
) -> Received:
    """One lead through the pipeline (web form, manual entry, admin, a single API POST).

    Raises PersonErased for an email on the suppression list, unless allow_suppressed.
    """
    item = {**data, "campaign": campaign}
    (result,) = leads_receive(
        items=[item],
        source=source,
        now=now,
        actor=actor,
        on_duplicate=on_duplicate,
        allow_suppressed=allow_suppressed,
    )
    if result.status == Status.ERASED:
        raise PersonErased
    return result
