"""On PostgreSQL lead_receive writes the lead, its follow-ups and its timeline in one
statement: the rows must be the ones lead.save() and followups_create_for_lead write."""

from datetime import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import Channel
from followups.deadlines import followups_create_for_lead
from followups.models import FollowUp
from leadbridge.calendar import TZ
from leads import services
from leads.models import Lead, LeadEvent, Source
from leads.services import OnDuplicate, lead_receive

from ..factories import CampaignFactory, InfoMaterialFactory

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.postgres,  # the statement is PostgreSQL's
]

RECEIVED = datetime(2026, 11, 20, 16, 40, tzinfo=TZ)  # a Friday, shortly before closing


def _with_the_orm(*, lead, timeline, initial):  # initial: the statement's, not used here
    lead.save()
    return followups_create_for_lead(lead=lead, timeline=timeline)


def _receive(campaign, actor, tag, **fields):
    data = {
        "company": "Muster GmbH",
        "contact_name": "Erika Mustermann",
        "email": f"{tag}@example.com",
        "external_id": tag,
        "received_at": RECEIVED,
        "lawful_basis": "contract",
        **fields,
    }
    return lead_receive(
        data=data,
        source=Source.API,
        now=RECEIVED,
        actor=actor,
        campaign=campaign,
        on_duplicate=OnDuplicate.SKIP,
    ).lead


def _rows(lead):
    """Every column but ids, the fields that tell the two leads apart, and write stamps."""
    leave_out = {"id", "external_id", "email", "dedup_key", "created_at", "updated_at"}
    lead = Lead.objects.get(pk=lead.pk)  # as stored
    lead_row = {
        f.attname: getattr(lead, f.attname)
        for f in Lead._meta.concrete_fields
        if f.attname not in leave_out
    }
    followups = list(FollowUp.objects.filter(lead=lead).order_by("pk"))
    kinds = {f.pk: f.kind for f in followups}
    followup_rows = [
        {
            f.attname: getattr(followup, f.attname)
            for f in FollowUp._meta.concrete_fields
            if f.attname not in {"id", "lead_id", "created_at", "updated_at"}
        }
        for followup in followups
    ]
    event_rows = [
        (e.kind, kinds.get(e.followup_id), e.actor_id, e.at, e.data)
        for e in LeadEvent.objects.filter(lead=lead).order_by("pk")
    ]
    return lead_row, followup_rows, event_rows


@pytest.mark.parametrize(
    "fields",
    [
        {"requests_material": True},
        {"requests_material": True, "wants_call": True},
        {"requests_material": False, "wants_call": False},
        {"requests_material": False, "wants_call": True, "channel": Channel.WEBSITE},
        {"requests_material": True, "wants_call": True, "channel": Channel.WEBSITE},
    ],
)
def test_the_one_statement_writes_what_save_and_bulk_create_write(
    monkeypatch, fields, marketer, team, rep
):
    campaign = CampaignFactory(owner=marketer, team=team)
    campaign.materials.add(InfoMaterialFactory(kind="digital"))
    with CaptureQueriesContext(connection) as queries:
        one = _receive(campaign, marketer, "one", **fields)
    assert sum(q["sql"].startswith("WITH new_lead") for q in queries.captured_queries) == 1
    monkeypatch.setattr(services, "_insert_lead_with_followups", _with_the_orm)
    orm = _receive(campaign, marketer, "orm", **fields)
    assert one.owner_id == orm.owner_id == rep.pk  # the only rep: same owner both times
    assert _rows(one) == _rows(orm)
    # What the caller gets back matches what was stored.
    stored = Lead.objects.get(pk=one.pk)
    assert (one.created_at, one.updated_at) == (stored.created_at, stored.updated_at)
    assert one.created_at <= timezone.now()
    assert not one._state.adding


def test_a_lead_nobody_routes_gets_no_assigned_entry(marketer):
    campaign = CampaignFactory(owner=marketer, team=None)
    lead = _receive(campaign, marketer, "loose")
    assert lead.owner_id is None
    kinds = list(LeadEvent.objects.filter(lead=lead).order_by("pk").values_list("kind", flat=True))
    assert kinds[0] == LeadEvent.Kind.RECEIVED
    assert LeadEvent.Kind.ASSIGNED not in kinds


def test_a_repeated_external_id_racing_in_still_answers_with_the_first_lead(
    monkeypatch, marketer, team, rep
):
    campaign = CampaignFactory(owner=marketer, team=team)
    first = _receive(campaign, marketer, "same")
    # As if a concurrent request stored it after our check: the statement hits the constraint.
    monkeypatch.setattr(services, "_known", lambda **kwargs: None)
    again = _receive(campaign, marketer, "same", company="Other")
    assert again.pk == first.pk
    assert Lead.objects.filter(external_id="same").count() == 1
    assert FollowUp.objects.filter(lead__external_id="same").count() == len(
        FollowUp.objects.filter(lead=first)
    )


def test_the_rows_are_stamped_once_the_team_lock_is_held(
    monkeypatch, time_machine, marketer, team, rep
):
    """The follow-ups are computed before the lock; the write stamps are not: a lead that
    waited for the lock is stamped when it is written, as save() would stamp it."""
    campaign = CampaignFactory(owner=marketer, team=team)
    before = datetime(2026, 11, 20, 16, 40, 5, tzinfo=TZ)
    after_the_wait = datetime(2026, 11, 20, 16, 40, 9, tzinfo=TZ)
    time_machine.move_to(before, tick=False)
    choose = services.rep_for

    def rep_for_after_a_wait(**kwargs):
        time_machine.move_to(after_the_wait, tick=False)
        return choose(**kwargs)

    monkeypatch.setattr(services, "rep_for", rep_for_after_a_wait)
    lead = _receive(campaign, marketer, "waited", requests_material=True)
    stored = Lead.objects.get(pk=lead.pk)
    assert (stored.created_at, stored.updated_at) == (after_the_wait, after_the_wait)
    assert (lead.created_at, lead.updated_at) == (after_the_wait, after_the_wait)
    followups = FollowUp.objects.filter(lead=lead)
    assert {f.created_at for f in followups} == {after_the_wait}
    assert {e.created_at for e in LeadEvent.objects.filter(lead=lead)} == {after_the_wait}
