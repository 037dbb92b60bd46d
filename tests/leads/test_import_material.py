"""The import and the info material: nothing asked for unless someone says so, printed
material only to rows with a postal address, and the rows' errors on the import page."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone, translation

from leads.import_files import ImportOptions, parse_rows
from leads.imports import import_run
from leads.models import ImportJob, Lead

CSV = (
    "Firma;Name;E-Mail;Straße;PLZ;Ort;Datum\n"
    "Alpha GmbH;Anna Alt;anna@alpha.example;Hauptstr. 1;80331;München;02.03.2026\n"
    "Beta AG;Bernd Bus;bernd@beta.example;;;;02.03.2026\n"
)
MAPPING = {
    "col_0": "company",
    "col_1": "contact_name",
    "col_2": "email",
    "col_3": "street",
    "col_4": "postcode",
    "col_5": "city",
    "col_6": "received_at",
}


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def _job(client, campaign, content: str = CSV) -> ImportJob:
    client.post(
        f"/campaigns/{campaign.pk}/import/",
        {"file": SimpleUploadedFile("scan.csv", content.encode())},
        HTTP_ACCEPT_LANGUAGE="en",
    )
    return ImportJob.objects.latest("pk")


def test_every_row_asked_for_the_material_is_not_ticked_by_default(client, marketer, campaign):
    client.force_login(marketer)
    job = _job(client, campaign)
    assert job.material_all is False
    page = client.get(f"/campaigns/imports/{job.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    tick = page[page.index('name="material_all"') - 80 : page.index('name="material_all"') + 80]
    assert "checked" not in tick


def test_printed_material_goes_only_to_rows_with_a_postal_address(client, marketer, campaign, rep):
    """The campaign offers a printed catalogue: the row without an address is refused with
    its line and reason (the web form's rule), the other gets its send-material task."""
    client.force_login(marketer)
    job = _job(client, campaign)
    client.post(
        f"/campaigns/imports/{job.pk}/",
        {**MAPPING, "on_duplicate": "skip", "lawful_basis": "contract", "material_all": "on"},
    )
    import_run(job_id=job.pk)

    lead = Lead.objects.get()
    assert lead.contact_name == "Anna Alt" and lead.requested_material.is_printed
    assert lead.followups.filter(kind="material").exists()
    page = client.get(f"/campaigns/imports/{job.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    table = page[page.index('data-testid="import-issues"') :]
    assert '<td class="num">3</td>' in table
    assert "asks for printed material but has no postal address" in table


def test_without_the_tick_no_row_asks_for_material(client, marketer, campaign, rep):
    client.force_login(marketer)
    job = _job(client, campaign)
    client.post(
        f"/campaigns/imports/{job.pk}/",
        {**MAPPING, "lawful_basis": "contract", "on_duplicate": "skip"},
    )
    import_run(job_id=job.pk)
    assert Lead.objects.count() == 2
    assert not Lead.objects.filter(requests_material=True).exists()


def test_the_parser_applies_the_postal_rule_only_for_printed_material():
    data = CSV.encode()
    mapping = {
        "contact_name": 1,
        "email": 2,
        "street": 3,
        "postcode": 4,
        "city": 5,
        "received_at": 6,
    }
    now = timezone.now()
    _table, printed = parse_rows(
        data=data,
        options=ImportOptions(mapping=mapping, material_all=True, material_printed=True),
        now=now,
    )
    assert [bool(r.errors) for r in printed] == [False, True]
    assert printed[1].errors[0]["code"] == "no_postal_address"
    _table, digital = parse_rows(
        data=data, options=ImportOptions(mapping=mapping, material_all=True), now=now
    )
    assert [bool(r.errors) for r in digital] == [False, False]


def test_the_import_page_lists_row_errors_page_by_page(client, marketer, campaign, rep):
    rows = "".join(f"Firma {i};Person {i};kaputt-{i};02.03.2026\n" for i in range(60))
    client.force_login(marketer)
    job = _job(client, campaign, "Firma;Name;E-Mail;Datum\n" + rows)
    client.post(
        f"/campaigns/imports/{job.pk}/",
        {
            "col_0": "company",
            "col_1": "contact_name",
            "col_2": "email",
            "col_3": "received_at",
            "on_duplicate": "skip",
            "lawful_basis": "contract",
        },
    )
    import_run(job_id=job.pk)
    first = client.get(f"/campaigns/imports/{job.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert first.count("is not a valid email address") == 50
    assert "“kaputt-0” is not a valid email address" in first and "Page 1 of 2 (60 rows)" in first
    second = client.get(
        f"/campaigns/imports/{job.pk}/?page=2", HTTP_ACCEPT_LANGUAGE="en"
    ).content.decode()
    assert second.count("is not a valid email address") == 10
    assert '<td class="num">61</td>' in second  # the last data row: the header is row 1
    # A page number that is no number shows the first page, not an error.
    assert client.get(f"/campaigns/imports/{job.pk}/?page=x").status_code == 200
