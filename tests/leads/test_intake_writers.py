"""The writers' contract (leads/intake/writers.py), one test for both: the ORM writer is
the reference, the COPY writer must store what it stores and leave the instances as it
leaves them. Together with the per-entry-point tests this replaces comparing the
intake paths with each other."""

from datetime import datetime

import pytest
from django.db import connection

from accounts.models import User
from campaigns.models import MaterialEmail, OptInEmail
from followups.models import FollowUp
from integrations.models import WebhookDelivery
from leadbridge.calendar import TZ
from leads.intake import OnDuplicate, leads_receive
from leads.intake.writers import CopyWriter, OrmWriter
from leads.models import Lead, LeadEvent, Source

from ..factories import CampaignFactory, InfoMaterialFactory, receive_lead

pytestmark = pytest.mark.django_db

RECEIVED = datetime(2026, 11, 20, 16, 40, tzinfo=TZ)  # a Friday, shortly before closing
NOW = datetime(2026, 11, 20, 16, 45, tzinfo=TZ)

WRITERS = [
    pytest.param(OrmWriter, id="orm"),
    pytest.param(CopyWriter, id="copy", marks=pytest.mark.postgres),
]


def _items(web, fair, *, tag: str) -> list[dict]:
    """A batch with every shape the pipeline writes: digital material emailed, printed
    material owed, a web call request, a marketing opt-in, no team, a repeat, a known person."""
    consent = {"consent_text": "Ja.", "consent_at": RECEIVED, "consent_language": "de"}
    base = {
        "company": "Muster GmbH",
        "contact_name": "Erika Mustermann",
        "received_at": RECEIVED,
        "lawful_basis": "contract",
    }
    return [
        {**base, "campaign": web, "email": f"{tag}-a@x.de", "requests_material": True,
         "lawful_basis": "consent", "external_id": f"{tag}-1", **consent},
        {**base, "campaign": fair, "email": f"{tag}-b@x.de", "requests_material": True},
        {**base, "campaign": web, "email": f"{tag}-c@x.de", "wants_call": True,
         "message": "Bitte\tanrufen \\ \"heute\"\n", "marketing_consent_requested_at": RECEIVED},
        {**base, "campaign": None, "email": f"{tag}-d@x.de", "channel": "phone"},
        {**base, "campaign": web, "email": f"{tag}-e@x.de", "external_id": f"{tag}-1"},
        {**base, "campaign": fair, "email": f"{tag}-known@x.de", "company": "",
         "phone": "+49 89 1"},
    ]  # fmt: skip


def _values(obj) -> dict:
    return {f.attname: getattr(obj, f.attname) for f in type(obj)._meta.concrete_fields}


def _rows(model, leads, *, leave_out=("id", "created_at", "updated_at")) -> list[dict]:
    """The stored rows of the leads' model rows, without ids, in the order written."""
    lead_ids = sorted(lead.pk for lead in leads)
    field = "id" if model is Lead else "lead_id"
    rows = []
    for obj in model.objects.filter(**{f"{field}__in": lead_ids}).order_by("pk"):
        row = {k: v for k, v in _values(obj).items() if k not in leave_out}
        for name in ("lead_id", "followup_id"):
            if row.get(name) is not None:  # which one, not its id
                row[name] = (
                    lead_ids.index(row[name])
                    if name == "lead_id"
                    else FollowUp.objects.get(pk=row[name]).kind
                )
        rows.append(row)
    return rows


def _batch(web, fair, marketer, writer, tag):
    User.objects.update(last_assigned_at=None)  # both batches start the round-robin afresh
    results = leads_receive(
        items=_items(web, fair, tag=tag),
        source=Source.API,
        now=NOW,
        actor=marketer,
        on_duplicate=OnDuplicate.MERGE,
        writer=writer,
    )
    return [r.lead for r in results if r.created]


def _snapshot(leads):
    ignore = ("id", "created_at", "updated_at", "email", "external_id", "dedup_key", "to")
    return {
        model.__name__: _rows(model, leads, leave_out=ignore)
        for model in (Lead, FollowUp, LeadEvent, MaterialEmail, OptInEmail)
    }


@pytest.mark.parametrize("writer", WRITERS)
def test_a_writer_stores_what_the_orm_writer_stores_and_leaves_the_instances_saved(
    writer, marketer, team, rep, second_rep
):
    web = CampaignFactory(owner=marketer, team=team, channel="website")
    web.materials.set([InfoMaterialFactory(kind="digital", title="Whitepaper")])
    fair = CampaignFactory(owner=marketer, team=team, channel="trade_fair")
    for tag in ("ref", "w"):  # the known person, for both batches
        receive_lead(campaign=fair, email=f"{tag}-known@x.de", received_at=RECEIVED)

    reference = _batch(web, fair, marketer, OrmWriter(), "ref")
    leads = _batch(web, fair, marketer, writer(), "w")

    assert _snapshot(leads) == _snapshot(reference)
    assert len(leads) == 4  # a repeat and a known person make no lead
    for lead in leads:
        stored = Lead.objects.get(pk=lead.pk)
        assert _values(stored) == _values(lead)
        assert (lead.created_at, lead.updated_at) == (stored.created_at, stored.updated_at)
        assert not lead._state.adding and lead._state.db == connection.alias
        for followup in FollowUp.objects.filter(lead=lead):
            assert followup.assignee_id == lead.owner_id
    assert WebhookDelivery.objects.count() == 0  # nobody subscribed: none queued, either way
    emailed = Lead.objects.get(pk=leads[0].pk)
    assert emailed.material_sent_at == NOW
