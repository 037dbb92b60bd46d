"""Issue 18's done-when: a person who came in through every intake path and went through
every later action is exported (every place shows them), then erased, and afterwards no
table, column or stored file holds their name, email, phone or address."""

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.apps import apps
from django.contrib.admin.models import CHANGE, LogEntry
from django.db import models
from django.test import Client
from django.utils import timezone

from accounts.models import Role
from campaigns.models import Channel, InfoMaterial, MaterialEmail
from campaigns.services import material_emails_send
from followups.models import Escalation, FollowUp, Notification
from followups.services import call_log, sweep_overdue
from integrations.models import Event, IdempotencyKey, WebhookDelivery
from integrations.services import webhook_subscription_create
from leads.imports import import_configure, import_run, import_start
from leads.models import ImportIssue, Lead
from leads.services import lead_decide, lead_note_add
from privacy.models import ErasureLog, ExportLog, Suppression
from reporting.models import DashboardCell
from reporting.rollup import dashboard_rollup_refresh

from ..api.conftest import api_client
from ..factories import CampaignFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=False), pytest.mark.postgres]

NAME = "Quirinus Zwetschgenbaum"
EMAIL = "quirinus.zwetschge@erase-me.example"
PHONE = "+49 89 7312 4455"
STREET = "Pflaumenallee 77"
POSTCODE = "97531"
CITY = "Zwetschgenhausen"
# What must be gone: the name (and each part), email, phone (as typed and its digits),
# the address. The postcode and digits as whole words (a timestamp may contain them).
NEEDLES = [
    re.compile(re.escape(text), re.IGNORECASE)
    for text in ("Quirinus", "Zwetschgenbaum", EMAIL, "zwetschge@", PHONE, "Pflaumenallee", CITY)
] + [re.compile(r"(?<!\d)" + d + r"(?!\d)") for d in (POSTCODE, "498973124455", "08973124455")]


def _person(**extra) -> dict:
    return {
        "contact_name": NAME,
        "company": "Zwetschgenbaum Obstbau KG",
        "email": EMAIL,
        "phone": PHONE,
        "street": STREET,
        "postcode": POSTCODE,
        "city": CITY,
        "message": f"Bitte rufen Sie {NAME} an: {PHONE}",
        **extra,
    }


def _found(text: str) -> list[str]:
    return [n.pattern for n in NEEDLES if n.search(text)]


def _dump_everything(media: Path) -> list[str]:
    """Every text, JSON and binary column of every table, and every stored file."""
    hits = []
    for model in apps.get_models():
        columns = [
            f.attname
            for f in model._meta.concrete_fields
            if isinstance(
                f,
                models.CharField
                | models.TextField
                | models.JSONField
                | models.BinaryField
                | models.FileField,
            )
        ]
        if not columns:
            continue
        for row in model._base_manager.values_list("pk", *columns).iterator():
            for name, value in zip(columns, row[1:], strict=True):
                if value is None:
                    continue
                if isinstance(value, bytes | memoryview):
                    text = bytes(value).decode("latin-1")
                elif isinstance(value, str):
                    text = value
                else:
                    text = json.dumps(value, ensure_ascii=False)
                for needle in _found(text):
                    hits.append(f"{model._meta.label}.{name} (pk {row[0]}): {needle}")
    for path in media.rglob("*"):
        if path.is_file():
            for needle in _found(path.read_bytes().decode("latin-1")):
                hits.append(f"file {path}: {needle}")
    return hits


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.LEADBRIDGE_THROTTLE_CACHE = "default"
    settings.LEADBRIDGE_WEBFORM_CACHE = "default"
    settings.LEADBRIDGE_WEBHOOK_PRIVATE_TARGETS = True
    return tmp_path


def _cells():
    return {
        (c.day, c.team_id, c.owner_id, c.campaign_id, c.channel): {
            f.name: getattr(c, f.name) for f in DashboardCell._meta.fields if f.name != "id"
        }
        for c in DashboardCell.objects.all()
    }


def test_a_person_from_every_path_is_exported_whole_then_erased_from_every_table_and_file(
    media, team, rep, manager, marketer
):
    now = timezone.now()
    admin = UserFactory(username="ada", role=Role.ADMIN, is_staff=True, is_superuser=True)
    digital = InfoMaterial.objects.create(
        title="Obstbau-Fibel", kind="digital", url="https://x.example/f"
    )
    campaign = CampaignFactory(
        owner=marketer, team=team, channel=Channel.WEBSITE, materials=[digital]
    )
    hook = webhook_subscription_create(
        user=rep,
        name="CRM",
        url="https://hooks.example/in",
        events=[Event.LEAD_CREATED, Event.PERSON_ERASED],
    )

    # 1. web form (asks for the digital material: an outbox email)
    browser = Client(HTTP_ACCEPT_LANGUAGE="de")
    answer = browser.post(
        f"/f/{campaign.form_key}/",
        {**_person(), "country": "DE", "material": digital.pk, "consent": "on", "wants_call": "on"},
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    # 2. manual entry
    office = Client(HTTP_ACCEPT_LANGUAGE="en")
    office.force_login(rep)
    local = timezone.localtime(now).strftime("%Y-%m-%dT%H:%M")
    answer = office.post(
        "/campaigns/leads/new/",
        {
            **_person(),
            "campaign": campaign.pk,
            "channel": "phone",
            "received_at": local,
            "country": "DE",
            "lawful_basis": "contract",
        },
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    # 3. API single and bulk, each with an Idempotency-Key (their answers are stored)
    api = api_client(marketer)
    single = api.post(
        "/api/v1/leads/?on_duplicate=create",
        {**_person(external_id="Q-1"), "campaign": campaign.pk},
        format="json",
        HTTP_IDEMPOTENCY_KEY="single-1",
    )
    assert single.status_code == 201, single.content
    bulk = api.post(
        "/api/v1/leads/bulk/",
        {
            "on_duplicate": "create",
            "leads": [
                {**_person(external_id="Q-2"), "campaign": campaign.pk},
                {**_person(email="not an email"), "campaign": campaign.pk},
            ],
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="bulk-1",
    )
    assert bulk.status_code == 200 and bulk.json()["created"] == 1, bulk.content
    # 4. CSV import: a new lead (a second address), a known one (skipped) and a broken row
    csv = (
        "Name;E-Mail;Telefon;Strasse;PLZ;Ort;Datum\n"
        f"{NAME};quirinus@zweite-adresse.example;{PHONE};{STREET};{POSTCODE};{CITY};01.03.2026\n"
        f"{NAME};{EMAIL};{PHONE};{STREET};{POSTCODE};{CITY};01.03.2026\n"
        f"{NAME};{EMAIL};{PHONE};{STREET};{POSTCODE};{CITY};kein Datum\n"
    ).encode()
    job = import_start(campaign=campaign, name="messe.csv", data=csv, by=marketer, now=now)
    job = import_configure(
        job=job,
        mapping={
            "contact_name": 0,
            "email": 1,
            "phone": 2,
            "street": 3,
            "postcode": 4,
            "city": 5,
            "received_at": 6,
        },
        received_on=None,
        on_duplicate="skip",
        consent_all=True,
        material_all=False,
        lawful_basis="contract",
    )
    job = import_run(job_id=job.pk)
    assert (job.created_count, job.duplicate_count, job.failed) == (1, 1, 1)
    leads = list(Lead.objects.filter(contact_name=NAME).order_by("pk"))
    assert len(leads) == 5 and all(lead.owner == rep for lead in leads)

    # Later actions: the material email goes out, calls with notes, notes, a rejection
    # with a note, the sweep escalates what is left, someone edits a lead in the admin.
    assert material_emails_send(now=now) == 1
    first = leads[0]
    callback = first.followups.filter(kind=FollowUp.Kind.CALLBACK, completed_at=None).first()
    call_log(followup=callback, by=rep, at=now, outcome="no_answer", note=f"{NAME} nicht erreicht")
    lead_note_add(lead=first, by=rep, at=now, text=f"{NAME} wohnt {STREET}, {POSTCODE} {CITY}")
    lead_decide(
        lead=leads[1],
        by=rep,
        at=now,
        decision="rejected",
        reason="other",
        note=f"{NAME}: kein Bedarf",
    )
    sweep_overdue(now=now + timedelta(days=30))
    LogEntry.objects.log_actions(
        user_id=admin.pk,
        queryset=Lead.objects.filter(pk=first.pk),
        action_flag=CHANGE,
        change_message=f"Changed phone to {PHONE}",
    )
    assert Escalation.objects.filter(followup__lead__in=leads).exists()
    assert Notification.objects.exists()
    assert WebhookDelivery.objects.filter(subscription=hook, lead__in=leads).count() == 5
    assert ImportIssue.objects.filter(job=job).count() == 2
    dashboard_rollup_refresh(now=now, full=True)
    cells_before = _cells()

    # The export (JSON over the API, and the printable page) shows every place.
    chief = api_client(manager)
    export = chief.get("/api/v1/privacy/export/", {"email": EMAIL.upper()})
    assert export.status_code == 200, export.content
    data = export.json()
    assert sorted(data["subject"]["leads"]) == [lead.pk for lead in leads if lead.email == EMAIL]
    text = json.dumps(data, ensure_ascii=False)
    for place in (
        "leads",
        "timeline",
        "followups",
        "escalations",
        "notifications",
        "material_emails",
        "webhook_deliveries",
        "api_answers",
        "import_issues",
        "import_files",
        "admin_log",
    ):
        assert data[place], f"the export lacks {place}"
    assert EMAIL in json.dumps(data["material_emails"])
    assert NAME in json.dumps(data["webhook_deliveries"], ensure_ascii=False)
    assert NAME in json.dumps(data["timeline"], ensure_ascii=False)
    assert any(NAME in f["note"] for f in data["followups"])
    assert EMAIL in json.dumps(data["import_issues"])
    assert len(data["import_files"][0]["rows"]) == 3  # its rows; the header names nobody
    assert NAME in text
    page = office.get("/privacy/export/", {"email": EMAIL})
    assert page.status_code == 403  # a rep does not answer data requests
    office.force_login(manager)
    page = office.get("/privacy/export/", {"email": EMAIL, "format": "html"})
    assert page.status_code == 200 and NAME in page.content.decode()
    assert ExportLog.objects.count() == 2
    assert EMAIL not in json.dumps(list(ExportLog.objects.values("subject_hash", "lead_ids")))

    # Erase (the page, by the team lead), by email: every lead of the person, and by lead
    # the import's lead with its second address.
    answer = office.post(
        "/privacy/erase/",
        {"email": EMAIL, "reason": "Anfrage per E-Mail (Art. 17)", "confirm": "on"},
    )
    assert answer.status_code == 302, answer.content.decode()[:3000]
    other = next(lead for lead in leads if lead.email != EMAIL)
    answer = office.post(
        "/privacy/erase/", {"lead": other.pk, "reason": "dieselbe Person", "confirm": "on"}
    )
    assert answer.status_code == 302
    log = ErasureLog.objects.order_by("pk").first()
    assert log.by == manager and log.reason.startswith("Anfrage") and len(log.lead_ids) == 4
    assert Suppression.objects.count() == 2

    hits = _dump_everything(media)
    assert hits == [], "\n".join(hits)
    # Integrations hear of it (person.erased, once per lead the subscriber may see), so
    # they can drop their copies; the body shows the lead as erasure left it (dumped above).
    erased_ids = {pk for entry in ErasureLog.objects.all() for pk in entry.lead_ids}
    told = WebhookDelivery.objects.filter(subscription=hook, event=Event.PERSON_ERASED)
    assert sorted(told.values_list("lead_id", flat=True)) == sorted(
        Lead.objects.visible_to(rep).filter(pk__in=erased_ids).values_list("pk", flat=True)
    )
    assert told.exists()
    # The counts the dashboards show are those of before.
    dashboard_rollup_refresh(now=now, full=True)
    assert _cells() == cells_before
    assert Lead.objects.count() == 5
    assert MaterialEmail.objects.count() == 1
    assert IdempotencyKey.objects.count() == 2


def test_an_erased_person_cannot_come_back_through_any_path_without_a_new_basis(
    media, team, rep, manager, marketer
):
    from leads.intake import PersonErased, lead_receive
    from privacy.services import person_erase

    now = timezone.now()
    campaign = CampaignFactory(owner=marketer, team=team, channel=Channel.WEBSITE)
    api = api_client(marketer)
    body = {**_person(external_id="Q-1"), "campaign": campaign.pk}
    first = api.post("/api/v1/leads/", body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == 201
    bulk_body = {
        "on_duplicate": "create",
        "leads": [{**_person(external_id="Q-2"), "campaign": campaign.pk}],
    }
    assert (
        api.post("/api/v1/leads/bulk/", bulk_body, format="json", HTTP_IDEMPOTENCY_KEY="k2").json()[
            "created"
        ]
        == 1
    )
    person_erase(email=EMAIL, by=manager, reason="Art. 17", now=now)
    count = Lead.objects.count()

    # Replays answer with what was stored: the anonymised lead, no new one.
    replay = api.post("/api/v1/leads/", body, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    # The first answer replayed (201), as erasure left it: scrubbed of the person.
    assert replay.status_code == 201 and replay.json()["id"] == first.json()["id"]
    assert "Zwetschge" not in replay.content.decode() and "Quirinus" not in replay.content.decode()
    replay = api.post("/api/v1/leads/bulk/", bulk_body, format="json", HTTP_IDEMPOTENCY_KEY="k2")
    assert replay.status_code == 200
    # New requests are refused, with the reason, on every path.
    again = api.post("/api/v1/leads/", {**body, "external_id": "Q-3"}, format="json")
    assert again.status_code == 400 and "erased" in json.dumps(again.json())
    again = api.post(
        "/api/v1/leads/bulk/",
        {"leads": [{**_person(email=EMAIL.upper(), external_id="Q-4"), "campaign": campaign.pk}]},
        format="json",
    ).json()
    assert again["invalid"] == 1 and "erased" in json.dumps(again["results"][0]["errors"])
    office = Client(HTTP_ACCEPT_LANGUAGE="de")
    office.force_login(rep)
    local = timezone.localtime(now).strftime("%Y-%m-%dT%H:%M")
    manual = office.post(
        "/campaigns/leads/new/",
        {
            **_person(),
            "campaign": campaign.pk,
            "channel": "phone",
            "received_at": local,
            "country": "DE",
            "lawful_basis": "contract",
        },
    )
    assert manual.status_code == 200 and "Löschung" in manual.content.decode()
    csv = (
        f"Name;E-Mail;Datum\n{NAME};{EMAIL};01.03.2026\nAndere Person;andere@x.example;01.03.2026\n"
    )
    job = import_start(campaign=campaign, name="a.csv", data=csv.encode(), by=marketer, now=now)
    job = import_configure(
        job=job,
        mapping={"contact_name": 0, "email": 1, "received_at": 2},
        received_on=None,
        on_duplicate="skip",
        consent_all=False,
        material_all=False,
        lawful_basis="contract",
    )
    job = import_run(job_id=job.pk)
    assert (job.created_count, job.failed) == (1, 1)
    issue = ImportIssue.objects.get(job=job)
    assert issue.reasons[0]["code"] == "erased" and issue.values == []
    assert Lead.objects.count() == count + 1  # only the other person
    # A new lawful basis: the caller says so explicitly.
    with pytest.raises(PersonErased):
        lead_receive(
            data={**_person(), "lawful_basis": "contract"},
            source="manual",
            now=now,
            campaign=campaign,
        )
    back = lead_receive(
        data={**_person(), "lawful_basis": "contract"},
        source="manual",
        now=now,
        campaign=campaign,
        allow_suppressed=True,
    )
    assert back.created and back.lead.email == EMAIL
    # The person's own fresh consent on the public form is a new lawful basis; and a
    # visitor must not learn that someone with this email asked to be erased.
    browser = Client(HTTP_ACCEPT_LANGUAGE="en")
    form = browser.post(
        f"/f/{campaign.form_key}/", {**_person(email="q2@erase-me.example"), "country": "DE"}
    )
    assert form.status_code == 200 and "erased" not in form.content.decode()
    form = browser.post(f"/f/{campaign.form_key}/", {**_person(), "country": "DE", "consent": "on"})
    assert form.status_code == 302
    assert Lead.objects.filter(email=EMAIL, lawful_basis="consent").exists()
