"""The bulk import path writes exactly the rows lead_receive writes one by one.

Both paths run on the same database state (each inside a rolled-back
transaction) and their leads, follow-ups, timelines, routing stamps, report
rows and queued emails are compared field by field (ids and auto timestamps
aside).
"""

import json
from datetime import datetime, timedelta

import pytest
from django.db import transaction
from django.utils import timezone, translation

from accounts.models import Role, RoutingRule
from campaigns.models import Channel, MaterialEmail
from followups.models import FollowUp, SlaPolicy
from leadbridge.calendar import TZ
from leads.imports import ImportOptions, _Chunk, parse_rows
from leads.models import Lead, LeadEvent
from tests.factories import (
    CampaignFactory,
    InfoMaterialFactory,
    TeamFactory,
    UserFactory,
    receive_lead,
)


@pytest.fixture(autouse=True)
def english():
    """Messages are asserted in English (the German catalogue may be compiled)."""
    with translation.override("en"):
        yield


class _Rollback(Exception):
    pass


def _label(lead: Lead) -> tuple:
    return (
        lead.contact_name,
        lead.email,
        lead.phone,
        lead.company,
        lead.received_at.isoformat(),
        lead.external_id,
    )


_LEAD_SKIP = {"id", "created_at", "updated_at"}
_FOLLOWUP_FIELDS = [
    "kind",
    "rule",
    "next_step",
    "assignee_id",
    "policy_id",
    "starts_at",
    "warn_at",
    "due_at",
    "overdue_at",
    "escalate_at",
    "reassign_at",
    "completed_at",
    "completed_by_id",
    "outcome",
    "note",
    "attempts",
    "warned_at",
    "flagged_at",
    "escalation_level",
]


def _snapshot(outcome) -> dict:
    leads = {lead.pk: lead for lead in Lead.objects.all()}
    labels = {pk: _label(lead) for pk, lead in leads.items()}
    lead_rows = {
        labels[pk]: {
            f.attname: getattr(lead, f.attname)
            for f in Lead._meta.concrete_fields
            if f.attname not in _LEAD_SKIP
        }
        for pk, lead in leads.items()
    }
    followups = {}
    followup_labels = {}
    for f in FollowUp.objects.order_by("pk"):
        row = tuple(getattr(f, name) for name in _FOLLOWUP_FIELDS)
        followups.setdefault(labels[f.lead_id], []).append(row)
        followup_labels[f.pk] = (f.kind, f.rule)
    events = {}
    for e in LeadEvent.objects.order_by("pk"):
        events.setdefault(labels[e.lead_id], []).append(
            (
                e.kind,
                e.actor_id,
                e.at,
                json.dumps(e.data, sort_keys=True),
                followup_labels.get(e.followup_id),
            )
        )
    from accounts.models import User
    from integrations.models import WebhookDelivery

    # occurred_at: each row's instant one by one, the chunk's now in bulk (microseconds apart)
    deliveries = sorted(
        (d.subscription_id, d.event, labels[d.lead_id]) for d in WebhookDelivery.objects.all()
    )
    return {
        "webhooks": deliveries,
        "leads": lead_rows,
        "followups": {k: sorted(v, key=repr) for k, v in followups.items()},
        "events": {k: sorted(v, key=repr) for k, v in events.items()},
        "reps": dict(
            User.objects.filter(role=Role.REP).values_list("username", "last_assigned_at")
        ),
        "outcome": (outcome.created, outcome.duplicates, outcome.failed),
        "issues": [
            (
                i.line,
                i.kind,
                i.reasons,
                labels.get(i.lead_id or getattr(getattr(i, "_pending_lead", None), "pk", None)),
            )
            for i in outcome.issues
        ],
        # the material emails the worker will send (the outbox rows)
        "material_emails": sorted(
            (
                labels[m.lead_id],
                followup_labels.get(m.followup_id),
                m.material_id,
                m.to,
                m.state,
                m.created_at,
            )
            for m in MaterialEmail.objects.all()
        ),
    }


def _run(path: str, rows, *, campaign, actor, on_duplicate, now) -> dict:
    result = {}
    try:
        with transaction.atomic():
            chunk = _Chunk(campaign=campaign, actor=actor, on_duplicate=on_duplicate, now=now)
            outcome = chunk.run_batched(rows) if path == "batched" else chunk.run_one_by_one(rows)
            result = _snapshot(outcome)
            raise _Rollback
    except _Rollback:
        pass
    return result


CSV = """ID;Firma;Vorname;Nachname;E-Mail;Telefon;PLZ;Ort;Straße;Datum;Material;Rückruf;Einwilligung
A1;Alpha GmbH;Anna;Alt;anna@alpha.example;;80331;München;Hauptstr. 1;02.03.2026 09:15;ja;nein;ja
A2;Beta AG;Bernd;Bau;bernd@beta.example;089 111111;80333;München;;02.03.2026 18:40;ja;nein;nein
A3;Gamma KG;Gerd;Gans;;0171 2222222;10115;Berlin;;03.03.2026;nein;ja;nein
A4;Delta GmbH;Dora;Dachs;dora@delta.example;;20095;Hamburg;;03.03.2026 11:00;nein;nein;ja
A5;Alpha GmbH;Anna;Alt;anna@alpha.example;030 999999;80331;München;Hauptstr. 1;04.03.2026 08:00;ja;nein;ja
A6;Epsilon;Emil;Ente;kein-email;;;;;04.03.2026;ja;nein;ja
A1;Alpha GmbH;Anna;Alt;anna.other@alpha.example;;80331;München;;05.03.2026;ja;nein;ja
A7;Zeta OHG;Zora;Ziege;zora@zeta.example;;01067;Dresden;;05.03.2026 14:00;ja;nein;ja
A8;Eta GmbH;Egon;Eule;;0171 2222222;;;;05.03.2026;nein;nein;nein
A9;Theta;Tina;Tiger;tina@theta.example;;80331;München;;06.03.2026 07:00;ja;ja;ja
A10;Iota;Ida;Igel;ida@iota.example;;80331;München;;06.03.2026 07:00;nein;nein;nein
;Kappa AG;Karl;Kuh;;;;München;Weg 2;06.03.2026;nein;nein;nein
;Kappa AG;Karl;Kuh;;;80331;München;Weg 2;07.03.2026;nein;nein;ja
A11;Lambda;Lea;Luchs;lea@lambda.example;;80331;München;;32.03.2026;ja;nein;ja
A12;My GmbH;Max;Maus;known@earlier.example;;80331;München;;07.03.2026;ja;nein;ja
"""

MAPPING = {
    "external_id": 0,
    "company": 1,
    "first_name": 2,
    "last_name": 3,
    "email": 4,
    "phone": 5,
    "postcode": 6,
    "city": 7,
    "street": 8,
    "received_at": 9,
    "requests_material": 10,
    "wants_call": 11,
    "consent": 12,
}


@pytest.fixture
def setup(db):
    team = TeamFactory(name="Vertrieb Süd", region="DE-BY")
    north = TeamFactory(name="Vertrieb Nord", region="DE-HH")
    reps = [
        UserFactory(username=f"rep{i}", role=Role.REP, team=team, daily_capacity=2)
        for i in range(3)
    ]
    UserFactory(username="absent", role=Role.REP, team=team, is_absent=True)
    UserFactory(username="north", role=Role.REP, team=north)
    RoutingRule.objects.create(team=north, postcode_prefix="1", priority=10)
    RoutingRule.objects.create(team=team, priority=100)
    marketer = UserFactory(username="mike", role=Role.MARKETING)
    digital = InfoMaterialFactory(
        title="Whitepaper", kind="digital", url="https://example.com/wp.pdf"
    )
    SlaPolicy.objects.create(name="Standard")  # outside the rolled-back runs: both use the same row
    from integrations.services import webhook_subscription_create

    webhook_subscription_create(
        user=marketer, name="CRM", url="https://crm.example/hook", events=["lead.created"]
    )
    return {"team": team, "reps": reps, "marketer": marketer, "digital": digital}


# When the import runs: the rows' instants (now + line µs) inside office hours, across
# the closing time (the bulk path then computes each dispatch itself, see _Span), and
# at night.
NOWS = {
    "office_hours": datetime(2026, 3, 10, 10, 30, tzinfo=TZ),
    "across_closing": datetime(2026, 3, 10, 16, 59, 59, 999_990, tzinfo=TZ),
    "night": datetime(2026, 3, 10, 23, 15, tzinfo=TZ),
}


@pytest.mark.parametrize("on_duplicate", ["skip", "merge"])
@pytest.mark.parametrize("with_team", [True, False])
@pytest.mark.parametrize("when", sorted(NOWS))
def test_bulk_and_one_by_one_write_the_same_rows(setup, on_duplicate, with_team, when):
    campaign = CampaignFactory(
        name="Messe",
        channel=Channel.TRADE_FAIR,
        owner=setup["marketer"],
        team=setup["team"] if with_team else None,
        materials=[setup["digital"]],
    )
    now = NOWS[when]
    # A lead known from before (another campaign): row A12 is its duplicate.
    receive_lead(
        email="known@earlier.example",
        company="",
        contact_name="Max Maus",
        now=now - timedelta(days=3),
        received_at=now - timedelta(days=3),
    )
    _table, rows = parse_rows(
        data=CSV.encode(),
        options=ImportOptions(
            mapping=MAPPING, consent_text=campaign.consent_text_for("de"), consent_language="de"
        ),
        now=now,
    )
    kwargs = {
        "campaign": campaign,
        "actor": setup["marketer"],
        "on_duplicate": on_duplicate,
        "now": now,
    }

    batched = _run("batched", rows, **kwargs)
    one_by_one = _run("one_by_one", rows, **kwargs)

    assert batched["outcome"] == one_by_one["outcome"]
    assert batched["issues"] == one_by_one["issues"]
    assert batched["reps"] == one_by_one["reps"]
    assert batched["material_emails"] == one_by_one["material_emails"]
    assert batched["leads"] == one_by_one["leads"]
    assert batched["followups"] == one_by_one["followups"]
    assert batched["events"] == one_by_one["events"]
    assert batched["webhooks"] == one_by_one["webhooks"] and len(batched["webhooks"]) == 8 + 1
    # and the scenario really exercised what it is meant to
    created, duplicates, failed = batched["outcome"]
    assert (created, duplicates, failed) == (8, 5, 2)
    assert len(batched["material_emails"]) >= 3  # digital material with consent went out
    owners = {
        row["owner_id"] for row in batched["leads"].values() if row["campaign_id"] == campaign.pk
    }
    assert len(owners) >= 3  # spread over reps (and teams), not all on one


def test_bulk_routing_spreads_like_round_robin_when_every_rep_is_full(setup):
    campaign = CampaignFactory(
        name="Webinar", channel=Channel.WEBINAR, owner=setup["marketer"], team=setup["team"]
    )
    now = timezone.now()
    lines = ["Name;E-Mail;Datum"] + [f"Person {i};p{i}@example.com;02.03.2026" for i in range(30)]
    _table, rows = parse_rows(
        data="\n".join(lines).encode(),
        options=ImportOptions(mapping={"contact_name": 0, "email": 1, "received_at": 2}),
        now=now,
    )
    kwargs = {"campaign": campaign, "actor": None, "on_duplicate": "skip", "now": now}
    batched = _run("batched", rows, **kwargs)
    one_by_one = _run("one_by_one", rows, **kwargs)
    assert batched["leads"] == one_by_one["leads"]
    per_owner = {}
    for row in batched["leads"].values():
        per_owner[row["owner_id"]] = per_owner.get(row["owner_id"], 0) + 1
    assert sorted(per_owner.values()) == [10, 10, 10]


def _issues_from_db(job) -> list:
    from leads.models import ImportIssue

    leads = {lead.pk: _label(lead) for lead in Lead.objects.all()}
    return [
        (i.line, i.kind, i.reasons, leads.get(i.lead_id))
        for i in ImportIssue.objects.filter(job=job).order_by("line")
    ]


def test_an_import_in_many_chunks_with_a_web_lead_in_between_equals_one_by_one(
    setup, settings, tmp_path, monkeypatch
):
    from leads import imports

    settings.MEDIA_ROOT = tmp_path
    campaign = CampaignFactory(
        name="Messe",
        channel=Channel.TRADE_FAIR,
        owner=setup["marketer"],
        team=setup["team"],
        materials=[setup["digital"]],
    )
    now = timezone.now()
    web_lead = {"email": "web@example.com", "contact_name": "Walter Web", "company": "Web GmbH"}

    # A: the real import, four rows per chunk; a web-form lead arrives after the first chunk.
    result_a = {}
    try:
        with transaction.atomic():
            job = imports.import_start(
                campaign=campaign, name="scan.csv", data=CSV.encode(), by=setup["marketer"], now=now
            )
            job = imports.import_configure(
                job=job,
                mapping=MAPPING,
                received_on=None,
                on_duplicate="merge",
                consent_all=False,
                material_all=False,
                lawful_basis="contract",
            )
            real_commit = imports._commit_chunk
            calls = []

            def commit_then_web_lead(*args, **kwargs):
                line = real_commit(*args, **kwargs)
                calls.append(line)
                if len(calls) == 1:
                    receive_lead(
                        campaign=campaign,
                        now=now + timedelta(microseconds=7),
                        received_at=now,
                        **web_lead,
                    )
                return line

            monkeypatch.setattr(imports, "_commit_chunk", commit_then_web_lead)
            job = imports.import_run(job_id=job.pk, clock=lambda: now, chunk_size=4)
            monkeypatch.setattr(imports, "_commit_chunk", real_commit)
            assert len(calls) == 4
            snap = _snapshot(imports.Outcome(job.created_count, job.duplicate_count, job.failed))
            snap["issues"] = _issues_from_db(job)
            result_a = snap
            raise _Rollback
    except _Rollback:
        pass

    # B: the reference, every row through lead_intake, the web lead at the same point.
    _table, rows = parse_rows(
        data=CSV.encode(),
        options=ImportOptions(
            mapping=MAPPING, consent_text=campaign.consent_text_for("de"), consent_language="de"
        ),
        now=now,
    )
    result_b = {}
    try:
        with transaction.atomic():
            chunk = _Chunk(
                campaign=campaign, actor=setup["marketer"], on_duplicate="merge", now=now
            )
            first = chunk.run_one_by_one(rows[:4])
            receive_lead(
                campaign=campaign, now=now + timedelta(microseconds=7), received_at=now, **web_lead
            )
            rest = chunk.run_one_by_one(rows[4:])
            outcome = imports.Outcome(
                first.created + rest.created,
                first.duplicates + rest.duplicates,
                first.failed + rest.failed,
                first.issues + rest.issues,
            )
            result_b = _snapshot(outcome)
            raise _Rollback
    except _Rollback:
        pass

    for key in (
        "outcome",
        "issues",
        "reps",
        "material_emails",
        "leads",
        "followups",
        "events",
        "webhooks",
    ):
        assert result_a[key] == result_b[key], key


@pytest.mark.parametrize(
    ("when", "shared"),
    [
        ("office_hours", True),
        ("across_closing", False),
        ("night", True),
        ("across_opening", False),
        ("saturday", True),
    ],
)
def test_the_span_shares_a_dispatch_computation_only_where_business_time_runs_with_the_clock(
    when, shared
):
    """_Span computes the deadlines twice per chunk, not per row, only where that is exact."""
    from followups.deadlines import calendar_for, deadlines_for
    from leads.imports import _Span

    calendar = calendar_for(team=None)
    policy = SlaPolicy(name="x")
    lo = {
        **NOWS,
        "across_opening": datetime(2026, 3, 11, 7, 59, 59, 999_980, tzinfo=TZ),
        "saturday": datetime(2026, 3, 14, 12, 0, tzinfo=TZ),
    }[when]
    span = _Span(lo, lo + timedelta(microseconds=50))

    def build(starts_at):
        return {
            "starts_at": starts_at,
            **deadlines_for(
                policy=policy,
                calendar=calendar,
                starts_at=starts_at,
                due=policy.duration("callback_after_digital_due"),
            ).__dict__,
        }

    for line in range(51):
        at = lo + timedelta(microseconds=line)
        assert span.shape(calendar, "callback", at, build) == build(at)
    assert (span._shapes["callback"][1] is not None) is shared
