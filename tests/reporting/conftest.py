"""Fixtures the dashboard tests share."""

import random
from datetime import datetime, timedelta

import pytest

from followups.services import call_log, material_dispatch
from leadbridge.calendar import TZ
from leads.models import Lead
from leads.services import lead_decide

from ..factories import CampaignFactory, InfoMaterialFactory, receive_lead

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=TZ)


@pytest.fixture
def history(campaign, rep, second_rep, manager):
    """~80 leads over six weeks: some asked for no material, some got it late, some never called,
    several across All Saints' Day (1 Nov, a Bavarian holiday)."""
    rng = random.Random(7)
    digital = CampaignFactory(
        name="Newsletter",
        channel="newsletter",
        owner=campaign.owner,
        team=campaign.team,
        materials=[InfoMaterialFactory(kind="digital")],
    )
    leads = []
    for i in range(80):
        received = NOW - timedelta(days=rng.randint(0, 42), hours=rng.randint(0, 10))
        lead = receive_lead(
            campaign=rng.choice([campaign, digital]),
            received_at=received,
            now=received,
            requests_material=rng.random() < 0.7,
            email=f"l{i}@example.com",
        )
        material = lead.followups.filter(kind="material").first()
        callback = lead.followups.filter(kind="callback").first()
        if material and rng.random() < 0.75:
            sent = min(received + timedelta(hours=rng.choice([1, 5, 30, 80, 200])), NOW)
            callback = material_dispatch(
                followup=material,
                by=lead.owner,
                at=sent,
                postal=material.rule == "material_printed",
            )
        if callback and rng.random() < 0.6:
            when = min(callback.starts_at + timedelta(hours=rng.choice([2, 20, 60])), NOW)
            outcome = rng.choice(["reached", "no_answer"])
            call_log(followup=callback, by=lead.owner, at=when, outcome=outcome)
        if rng.random() < 0.5:
            decision = rng.choice(["accepted", "rejected"])
            lead_decide(
                lead=lead,
                by=lead.owner,
                at=min(received + timedelta(hours=3), NOW),
                decision=decision,
                reason="no_need" if decision == "rejected" else "",
            )
        leads.append(lead)
    return Lead.objects.filter(pk__in=[lead.pk for lead in leads])
