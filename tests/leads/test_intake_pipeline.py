"""The intake pipeline (leads.intake): what a batch of any size does, whoever calls it."""

from datetime import datetime

import pytest

from campaigns.models import MaterialEmail, OptInEmail
from followups.models import FollowUp
from leadbridge.calendar import TZ
from leads.intake import OnDuplicate, PersonErased, Status, lead_receive, leads_receive
from leads.intake import pipeline as intake_pipeline
from leads.models import Lead, LeadEvent, Source

from ..factories import CampaignFactory, InfoMaterialFactory

pytestmark = pytest.mark.django_db

RECEIVED = datetime(2026, 11, 20, 10, 0, tzinfo=TZ)


def _data(tag: str, **fields) -> dict:
    return {
        "company": "Muster GmbH",
        "contact_name": "Erika Mustermann",
        "email": f"{tag}@example.com",
        "external_id": tag,
        "received_at": RECEIVED,
        "lawful_basis": "contract",
        **fields,
    }


def test_a_lead_nobody_routes_gets_no_assigned_entry(marketer):
    campaign = CampaignFactory(owner=marketer, team=None)
    lead = lead_receive(data=_data("loose"), source=Source.API, now=RECEIVED, campaign=campaign)
    assert lead.created and lead.lead.owner_id is None
    kinds = list(LeadEvent.objects.filter(lead=lead.lead).values_list("kind", flat=True))
    assert kinds[0] == LeadEvent.Kind.RECEIVED
    assert LeadEvent.Kind.ASSIGNED not in kinds


def test_a_repeated_external_id_racing_in_still_answers_with_the_first_lead(
    monkeypatch, marketer, team, rep
):
    campaign = CampaignFactory(owner=marketer, team=team)
    first = lead_receive(data=_data("same"), source=Source.API, now=RECEIVED, campaign=campaign)
    # As if a concurrent request stored it after our check: the write hits the constraint
    # once, and the batch done again finds the first lead.
    real = intake_pipeline._Batch._stored_repeats
    calls = []

    def blind_once(self, items):
        calls.append(1)
        return {} if len(calls) == 1 else real(self, items)

    monkeypatch.setattr(intake_pipeline._Batch, "_stored_repeats", blind_once)
    again = lead_receive(
        data=_data("same", company="Other"), source=Source.API, now=RECEIVED, campaign=campaign
    )
    assert (again.status, again.lead.pk) == (Status.EXISTING, first.lead.pk)
    assert Lead.objects.filter(external_id="same").count() == 1
    assert FollowUp.objects.filter(lead__external_id="same").count() == 2


def test_an_erased_person_is_refused_in_a_batch_and_raised_for_one(marketer, team, rep):
    from privacy.models import Suppression
    from privacy.services import email_hash

    Suppression.objects.create(email_hash=email_hash("gone@example.com"), created_at=RECEIVED)
    campaign = CampaignFactory(owner=marketer, team=team)
    results = leads_receive(
        items=[
            {**_data("gone"), "campaign": campaign},
            {**_data("here"), "campaign": campaign},
        ],
        source=Source.API,
        now=RECEIVED,
    )
    assert [r.status for r in results] == [Status.ERASED, Status.CREATED]
    with pytest.raises(PersonErased):
        lead_receive(data=_data("gone"), source=Source.API, now=RECEIVED, campaign=campaign)


def test_known_people_within_a_batch_make_one_lead_and_merge_into_it(marketer, team, rep):
    campaign = CampaignFactory(owner=marketer, team=team)
    results = leads_receive(
        items=[
            {**_data("p1", email="one@example.com", phone=""), "campaign": campaign},
            {**_data("p2", email="one@example.com", phone="+49 89 1"), "campaign": campaign},
        ],
        source=Source.API,
        now=RECEIVED,
        on_duplicate=OnDuplicate.MERGE,
    )
    assert [r.status for r in results] == [Status.CREATED, Status.MERGED]
    lead = Lead.objects.get()
    assert results[1].lead.pk == lead.pk and lead.phone == "+49 89 1"
    note = LeadEvent.objects.get(lead=lead, kind=LeadEvent.Kind.NOTE)
    assert note.data["filled"] == ["phone"]


def test_every_lead_of_a_batch_with_digital_material_and_consent_is_emailed_once(
    marketer, team, rep
):
    campaign = CampaignFactory(owner=marketer, team=team, channel="website")
    campaign.materials.set([InfoMaterialFactory(kind="digital")])
    consent = {"consent_text": "Ja.", "consent_at": RECEIVED, "lawful_basis": "consent"}
    items = [
        {**_data(f"m{i}", requests_material=True, **consent), "campaign": campaign}
        for i in range(60)  # enough for the COPY writer on PostgreSQL
    ]
    items.append({**_data("asks-call", requests_material=True, wants_call=True, **consent),
                  "campaign": campaign})  # fmt: skip
    items.append({**_data("opt-in", marketing_consent_requested_at=RECEIVED),
                  "campaign": campaign})  # fmt: skip
    leads_receive(items=items, source=Source.WEB_FORM, now=RECEIVED)
    assert MaterialEmail.objects.count() == 61
    # One open call-back each: the web call request is not doubled by the material's.
    for lead in Lead.objects.filter(requests_material=True):
        open_callbacks = lead.followups.filter(kind="callback", completed_at__isnull=True)
        assert open_callbacks.count() == 1
    assert Lead.objects.get(external_id="asks-call").followups.get(kind="callback").rule == (
        "web_call"
    )
    assert list(OptInEmail.objects.values_list("lead__external_id", flat=True)) == ["opt-in"]


def test_a_repeat_of_a_known_person_in_the_same_batch_answers_with_the_known_lead(
    marketer, team, rep
):
    campaign = CampaignFactory(owner=marketer, team=team)
    earlier = lead_receive(
        data=_data("first", email="known@example.com"),
        source=Source.API,
        now=RECEIVED,
        campaign=campaign,
    ).lead
    results = leads_receive(
        items=[{**_data("again", email="known@example.com"), "campaign": campaign}] * 2,
        source=Source.API,
        now=RECEIVED,
        on_duplicate=OnDuplicate.SKIP,
    )
    assert [(r.status, r.lead.pk) for r in results] == [
        (Status.DUPLICATE, earlier.pk),
        (Status.EXISTING, earlier.pk),
    ]
