"""Running an import: leads with deadlines, reported rows, duplicates, resuming, material."""

import csv
import io
from datetime import datetime

import pytest
from django.core import mail
from django.db import DataError
from django.utils import timezone, translation

from campaigns.models import MaterialEmail
from campaigns.services import material_emails_send
from followups.models import FollowUp
from leads import imports
from leads.imports import import_configure, import_run, import_start, reason_text
from leads.models import ImportIssue, ImportJob, Lead, LeadEvent
from leads.tasks import import_run_task

from ..factories import CampaignFactory, InfoMaterialFactory

NOW = timezone.now()

CSV = (
    "Scan-ID;Firma;Vorname;Nachname;E-Mail;Telefon;Datum\n"
    "S1;Alpha GmbH;Anna;Alt;anna@alpha.example;;02.03.2026 09:15\n"
    "S2;Beta AG;Bernd;Bau;bernd(at)beta.example;;02.03.2026 10:00\n"
    "S3;Gamma KG;Gerd;Gans;;0171 2222222;03.03.2026\n"
    "S4;Delta GmbH;Dora;Dachs;dora@delta.example;;31.02.2026\n"
    "S5;Epsilon;Emil;Ente;emil@epsilon.example;;03.03.2026 16:00\n"
)
MAPPING = {
    "external_id": 0,
    "company": 1,
    "first_name": 2,
    "last_name": 3,
    "email": 4,
    "phone": 5,
    "received_at": 6,
}


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


def _import(
    campaign,
    data: str | bytes,
    *,
    by=None,
    on_duplicate="skip",
    mapping=None,
    chunk_size=None,
    **options,
):
    data = data.encode() if isinstance(data, str) else data
    job = import_start(campaign=campaign, name="scan.csv", data=data, by=by, now=NOW)
    job = import_configure(
        job=job,
        mapping=mapping or MAPPING,
        received_on=options.get("received_on"),
        on_duplicate=on_duplicate,
        consent_all=options.get("consent_all", False),
        material_all=options.get("material_all", False),
        lawful_basis=options.get("lawful_basis", "contract"),
    )
    return import_run(job_id=job.pk, chunk_size=chunk_size)


@pytest.fixture(autouse=True)
def english():
    """Messages are asserted in English (the German catalogue may be compiled)."""
    with translation.override("en"):
        yield


def test_valid_rows_become_leads_with_deadlines_and_bad_rows_are_reported_whole(
    campaign, rep, marketer
):
    job = _import(campaign, CSV, by=marketer)

    assert (job.status, job.total, job.created_count, job.failed, job.duplicate_count) == (
        "done",
        5,
        3,
        2,
        0,
    )
    leads = Lead.objects.filter(campaign=campaign).order_by("received_at")
    assert [lead.contact_name for lead in leads] == ["Anna Alt", "Gerd Gans", "Emil Ente"]
    for lead in leads:
        assert lead.source == "import" and lead.owner == rep
        kinds = sorted(lead.followups.values_list("kind", flat=True))
        assert kinds == ["callback", "decision"]
        assert lead.events.filter(kind=LeadEvent.Kind.RECEIVED, actor=marketer).count() == 1
    anna = leads[0]
    assert anna.received_at == timezone.make_aware(datetime(2026, 3, 2, 9, 15))
    assert anna.followups.get(kind="callback").starts_at == anna.received_at  # counted from receipt
    # the bad rows left nothing behind: no lead, no follow-up, no event
    assert not Lead.objects.filter(contact_name__in=["Bernd Bau", "Dora Dachs"]).exists()
    assert (
        FollowUp.objects.count() == 6 and LeadEvent.objects.filter(lead__in=leads).count() == 3 * 4
    )
    issues = list(ImportIssue.objects.filter(job=job))
    assert [(i.line, i.kind) for i in issues] == [(3, "error"), (5, "error")]
    assert issues[0].values[1] == "Beta AG"


def test_the_report_lists_each_reported_row_with_its_number_reason_and_values(
    client, campaign, rep, marketer
):
    job = _import(campaign, CSV, by=marketer)
    client.force_login(marketer)
    response = client.get(f"/campaigns/imports/{job.pk}/report.csv", HTTP_ACCEPT_LANGUAGE="en")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    header, first, second = csv.reader(io.StringIO(body))
    assert header == [
        "Row",
        "Result",
        "Reason",
        "Scan-ID",
        "Firma",
        "Vorname",
        "Nachname",
        "E-Mail",
        "Telefon",
        "Datum",
    ]
    assert first[:4] == [
        "3",
        "Error: not imported",
        "“bernd(at)beta.example” is not a valid email address",
        "S2",
    ]
    assert first[4:] == ["Beta AG", "Bernd", "Bau", "bernd(at)beta.example", "", "02.03.2026 10:00"]
    assert second[0] == "5" and second[2].startswith("“31.02.2026” is not a date")


def test_importing_the_same_people_again_skips_them(campaign, rep):
    _import(campaign, CSV)
    again = (
        CSV.replace("S1;", "X1;").replace("S3;", "X3;").replace("S5;", "X5;")
        + "S6;Zeta;Zora;Ziege;zora@zeta.example;;04.03.2026\n"
    )
    job = _import(campaign, again)
    assert (job.created_count, job.duplicate_count, job.failed) == (1, 3, 2)
    assert Lead.objects.filter(campaign=campaign).count() == 4
    skipped = ImportIssue.objects.filter(job=job, kind="skipped").order_by("line")
    assert [reason_text({**i.reasons[0], "params": {"lead": i.lead_id}}) for i in skipped][
        0
    ].startswith("known lead with the same email")
    assert skipped[1].reasons[0]["code"] == "dup_phone"


def test_rows_with_an_external_id_already_imported_are_reported_not_doubled(campaign, rep):
    _import(campaign, CSV)
    job = _import(
        campaign, CSV.replace("Alpha GmbH", "Alpha GmbH & Co. KG")
    )  # a changed file, same scans
    assert (job.created_count, job.duplicate_count) == (0, 3)
    assert set(
        ImportIssue.objects.filter(job=job, kind="existing").values_list("line", flat=True)
    ) == {2, 4, 6}


def test_merging_fills_the_known_leads_empty_fields_and_notes_it(campaign, rep):
    _import(campaign, CSV)
    update = "Name;E-Mail;Telefon;Datum\nAnna Alt;anna@alpha.example;089 123456;05.03.2026\n"
    job = _import(
        campaign,
        update,
        on_duplicate="merge",
        mapping={"contact_name": 0, "email": 1, "phone": 2, "received_at": 3},
    )
    anna = Lead.objects.get(email="anna@alpha.example")
    assert (job.created_count, job.duplicate_count) == (0, 1)
    assert anna.phone == "089 123456"
    assert anna.events.filter(kind=LeadEvent.Kind.NOTE, data__note="merged duplicate").count() == 1
    assert ImportIssue.objects.get(job=job).kind == "merged"


def test_digital_material_with_consent_is_emailed_at_once_printed_material_waits_for_sales(
    campaign, rep, django_capture_on_commit_callbacks
):
    digital = CampaignFactory(
        name="Webinar",
        channel="webinar",
        owner=campaign.owner,
        team=campaign.team,
        materials=[
            InfoMaterialFactory(title="Whitepaper", kind="digital", url="https://x.example/wp")
        ],
    )
    data = (
        "Name;E-Mail;Datum;Einwilligung\n"
        "Anna;anna@example.com;02.03.2026;ja\n"
        "Bo;bo@example.com;02.03.2026;nein\n"
    )
    mapping = {"contact_name": 0, "email": 1, "received_at": 2, "consent": 3}
    with django_capture_on_commit_callbacks(execute=True):
        _import(digital, data, mapping=mapping, material_all=True)
    anna, bo = Lead.objects.get(email="anna@example.com"), Lead.objects.get(email="bo@example.com")
    assert anna.consent_at == anna.received_at
    assert anna.consent_text == digital.consent_text_for("de") and anna.consent_language == "de"
    assert anna.followups.get(kind="material").outcome == "emailed"
    assert (
        anna.followups.filter(
            kind="callback", rule="callback_after_digital", completed_at__isnull=True
        ).count()
        == 1
    )
    assert anna.material_sent_at is not None
    assert bo.consent_at is None and bo.followups.get(kind="material").completed_at is None
    # the import only queued it; the worker's next run sends it, once
    assert mail.outbox == []
    assert list(MaterialEmail.objects.values_list("to", "state")) == [
        ("anna@example.com", "pending")
    ]
    assert material_emails_send(now=timezone.now()) == 1
    assert material_emails_send(now=timezone.now()) == 0
    assert [m.to for m in mail.outbox] == [["anna@example.com"]]
    assert "https://x.example/wp" in mail.outbox[0].body

    # the fair's catalogue is printed: a dispatch follow-up for sales, nothing mailed
    # (posted, so only to rows with a postal address)
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        _import(
            campaign,
            "Name;E-Mail;Datum;Einwilligung;Straße;PLZ;Ort\n"
            "Ann2;ann2@example.com;02.03.2026;ja;Hauptstr. 1;80331;München\n",
            mapping={**mapping, "street": 4, "postcode": 5, "city": 6},
            material_all=True,
        )
    printed = Lead.objects.get(email="ann2@example.com").followups.get(kind="material")
    assert (printed.rule, printed.completed_at) == ("material_printed", None)
    assert material_emails_send(now=timezone.now()) == 0
    assert mail.outbox == []


def test_a_crashed_import_resumes_after_the_last_committed_chunk(campaign, rep, monkeypatch):
    rows = "".join(f"P{i};p{i}@example.com;02.03.2026\n" for i in range(10))
    data = ("Name;E-Mail;Datum\n" + rows).encode()
    job = import_start(campaign=campaign, name="a.csv", data=data, by=None, now=NOW)
    job = import_configure(
        job=job,
        mapping={"contact_name": 0, "email": 1, "received_at": 2},
        received_on=None,
        on_duplicate="skip",
        consent_all=False,
        material_all=False,
        lawful_basis="contract",
    )
    real = imports._commit_chunk
    calls = []

    def crash_on_third(*args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise SystemExit("worker killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(imports, "_commit_chunk", crash_on_third)
    with pytest.raises(SystemExit):
        import_run(job_id=job.pk, chunk_size=3)
    job.refresh_from_db()
    assert (job.status, job.done, job.created_count) == ("running", 6, 6)

    monkeypatch.setattr(imports, "_commit_chunk", real)
    import_run_task(job.pk)  # the redelivered task (late ack)
    job.refresh_from_db()
    assert (job.status, job.done, job.created_count) == ("done", 10, 10)
    assert Lead.objects.filter(campaign=campaign).count() == 10


def test_when_postgresql_refuses_a_value_the_chunk_is_redone_row_by_row(campaign, rep, monkeypatch):
    """A value the checks let through but the database refuses (DataError) costs that row
    only: the chunk is written again row by row and the refused row is reported."""
    real = imports.leads_receive

    def refuse_one(*, items, **kwargs):
        if any(item["email"] == "emil@epsilon.example" for item in items):
            raise DataError("value too long for type character varying(254)")
        return real(items=items, **kwargs)

    monkeypatch.setattr(imports, "leads_receive", refuse_one)
    job = _import(campaign, CSV)
    issue = job.issues.get(kind=ImportIssue.Kind.ERROR, reasons__0__code="save_failed")
    assert (job.created_count, job.failed) == (2, 3)
    assert Lead.objects.filter(campaign=campaign).count() == 2
    assert issue.line == 6
    assert all(lead.followups.count() == 2 for lead in Lead.objects.filter(campaign=campaign))


def test_a_finished_job_is_not_run_again(campaign, rep):
    job = _import(campaign, CSV)
    again = import_run(job_id=job.pk)
    assert again.created_count == 3 and Lead.objects.count() == 3


def test_the_mapping_needs_a_name_a_way_to_reach_and_a_date(campaign):
    job = import_start(campaign=campaign, name="a.csv", data=b"A;B;C\n1;2;3\n", by=None, now=NOW)
    with pytest.raises(ValueError, match="contact person's name") as exc:
        import_configure(
            job=job,
            mapping={"email": 1},
            received_on=None,
            on_duplicate="skip",
            consent_all=False,
            material_all=False,
            lawful_basis="contract",
        )
    assert "date of receipt" in str(exc.value)
    assert ImportJob.objects.get(pk=job.pk).status == "mapping"


def test_with_consent_as_the_files_basis_rows_without_consent_are_reported_not_imported(
    campaign, rep
):
    data = (
        "Name;E-Mail;Datum;Einwilligung\n"
        "Anna Alt;anna@alpha.example;02.03.2026 09:15;ja\n"
        "Bernd Bau;bernd@beta.example;02.03.2026 10:00;nein\n"
    )
    job = _import(
        campaign,
        data,
        mapping={"contact_name": 0, "email": 1, "received_at": 2, "consent": 3},
        lawful_basis="consent",
    )
    lead = Lead.objects.get()
    assert lead.contact_name == "Anna Alt"
    assert (lead.lawful_basis, lead.lawful_basis_source, lead.lawful_basis_at) == (
        "consent",
        "import",
        lead.consent_at,
    )
    # The campaign's text in the form's default language, and that language.
    assert lead.consent_text == campaign.consent_text_for("de") and lead.consent_language == "de"
    issue = ImportIssue.objects.get(job=job)
    assert issue.line == 3 and "consent is the lawful basis" in reason_text(issue.reasons[0])


def test_a_job_queued_without_a_lawful_basis_imports_nothing(campaign, rep):
    job = import_start(
        campaign=campaign, name="a.csv", data=b"Name;E-Mail\nA;a@example.com\n", by=None, now=NOW
    )
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.QUEUED,
        mapping={"contact_name": 0, "email": 1},
        received_on=NOW.date(),
    )
    job = import_run(job_id=job.pk)
    assert job.status == ImportJob.Status.FAILED and "lawful basis" in job.message
    assert not Lead.objects.exists()
