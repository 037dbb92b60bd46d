"""The import in the browser: upload, mapping preview, progress, report; bad files get messages."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import translation

from campaigns.models import Campaign
from leads.import_files import MAX_BYTES
from leads.imports import import_run
from leads.models import ImportJob, Lead

CSV = (
    "Firma;Name;E-Mail;Datum\n"
    "Alpha GmbH;Anna Alt;anna@alpha.example;02.03.2026\n"
    "Beta;Bo;kaputt;02.03.2026\n"
)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture(autouse=True)
def english():
    """Messages are asserted in English (the German catalogue may be compiled)."""
    with translation.override("en"):
        yield


def _upload(client, campaign, content: bytes, name="scan.csv"):
    return client.post(
        f"/campaigns/{campaign.pk}/import/",
        {"file": SimpleUploadedFile(name, content)},
        HTTP_ACCEPT_LANGUAGE="en",
    )


def test_upload_preview_mapping_progress_and_report(
    client, marketer, campaign, rep, django_capture_on_commit_callbacks
):
    client.force_login(marketer)
    response = _upload(client, campaign, CSV.encode("cp1252"))
    job = ImportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/campaigns/imports/{job.pk}/"

    preview = client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "2 rows for “Hannover Messe”" in preview
    assert (
        "Alpha GmbH" in preview and "anna@alpha.example" in preview
    )  # the first rows under their columns
    assert '<option value="email" selected>' in preview  # the guessed mapping is preselected

    with django_capture_on_commit_callbacks() as callbacks:
        started = client.post(
            response["Location"],
            {
                "col_0": "company",
                "col_1": "contact_name",
                "col_2": "email",
                "col_3": "received_at",
                "on_duplicate": "skip",
                "lawful_basis": "legitimate_interest",
            },
        )
    assert started.status_code == 302
    assert len(callbacks) == 1  # the Celery task, enqueued on commit
    job.refresh_from_db()
    assert job.status == "queued" and job.mapping == {
        "company": 0,
        "contact_name": 1,
        "email": 2,
        "received_at": 3,
    }

    running = client.get(
        f"/campaigns/imports/{job.pk}/progress/", HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert 'hx-trigger="every 1s"' in running and "0 of 2 rows processed" in running

    import_run(job_id=job.pk)
    done = client.get(
        f"/campaigns/imports/{job.pk}/progress/", HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert "hx-trigger" not in done  # polling stops
    assert (
        "2 of 2 rows processed" in done and "1 lead created" in done and "1 row with errors" in done
    )
    assert f'href="/campaigns/imports/{job.pk}/report.csv"' in done
    report = b"".join(
        client.get(
            f"/campaigns/imports/{job.pk}/report.csv", HTTP_ACCEPT_LANGUAGE="en"
        ).streaming_content
    ).decode("utf-8-sig")
    assert "“kaputt” is not a valid email address" in report
    lead = Lead.objects.get()
    assert lead.contact_name == "Anna Alt"
    # The basis chosen for the file, recorded by the import, as of the row's receipt.
    assert job.lawful_basis == "legitimate_interest"
    assert (lead.lawful_basis, lead.lawful_basis_source, lead.lawful_basis_at) == (
        "legitimate_interest",
        "import",
        lead.received_at,
    )


def test_the_mapping_step_requires_a_lawful_basis_for_the_file(client, marketer, campaign):
    client.force_login(marketer)
    _upload(client, campaign, CSV.encode())
    job = ImportJob.objects.get()
    page = client.get(f"/campaigns/imports/{job.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert 'id="lawful-basis"' in page and "Pre-contract enquiry (Art. 6(1)(b) GDPR)" in page
    mapping = {"col_1": "contact_name", "col_2": "email", "col_3": "received_at"}
    response = client.post(
        f"/campaigns/imports/{job.pk}/",
        {**mapping, "on_duplicate": "skip"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200
    assert "Choose the lawful basis on which these leads are kept." in response.content.decode()
    # Consent as the basis: the file must say who consented.
    response = client.post(
        f"/campaigns/imports/{job.pk}/",
        {**mapping, "on_duplicate": "skip", "lawful_basis": "consent"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert "With consent as the lawful basis, choose the column" in response.content.decode()
    assert ImportJob.objects.get().status == "mapping"


def test_the_mapping_form_explains_what_is_missing(client, marketer, campaign):
    client.force_login(marketer)
    _upload(client, campaign, CSV.encode())
    job = ImportJob.objects.get()
    response = client.post(
        f"/campaigns/imports/{job.pk}/",
        {
            "col_0": "company",
            "col_1": "company",
            "on_duplicate": "skip",
            "lawful_basis": "contract",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    html = response.content.decode()
    assert "is chosen for two columns" in html
    response = client.post(
        f"/campaigns/imports/{job.pk}/",
        {"col_1": "contact_name", "on_duplicate": "skip", "lawful_basis": "contract"},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    html = response.content.decode()
    assert "Choose at least one column to reach the lead by" in html
    assert "or give one date for the whole file" in html
    assert ImportJob.objects.get().status == "mapping"


def _workbook_bytes():
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.active.append(["Name", "E-Mail"])
    workbook.active.append(["Anna", "a@example.com"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The submitted file is empty."),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8, "This is not a CSV or XLSX file"),
        (b"Name;E-Mail;Datum\n", "The file has a header row but no data rows."),
        (b"x" * (MAX_BYTES + 1), "the limit is 20 MB"),
    ],
    ids=["empty", "png-renamed", "header-only", "too-big"],
)
def test_bad_files_get_a_clear_message_and_no_job(client, marketer, campaign, content, message):
    client.force_login(marketer)
    response = _upload(client, campaign, content)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ImportJob.objects.exists()


def test_a_workbook_named_csv_is_taken_as_a_workbook(client, marketer, campaign):
    client.force_login(marketer)
    assert _upload(client, campaign, _workbook_bytes(), name="export.csv").status_code == 302
    assert ImportJob.objects.get().file_format == "xlsx"


def test_the_same_file_again_points_to_the_earlier_import(client, marketer, campaign, rep):
    client.force_login(marketer)
    _upload(client, campaign, CSV.encode())
    ImportJob.objects.update(status="done", created_count=1)
    response = _upload(client, campaign, CSV.encode(), name="scan (1).csv")
    html = response.content.decode()
    assert "This file was imported into this campaign already" in html
    assert f'href="/campaigns/imports/{ImportJob.objects.get().pk}/"' in html


def test_a_planned_campaign_takes_no_imports_yet(client, marketer, campaign):
    Campaign.objects.filter(pk=campaign.pk).update(status="planned")
    client.force_login(marketer)
    response = client.get(
        f"/campaigns/{campaign.pk}/import/", follow=True, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "Activate the campaign first" in response.content.decode()


def test_sales_does_not_import(client, rep, campaign):
    client.force_login(rep)
    assert client.get(f"/campaigns/{campaign.pk}/import/").status_code == 403
