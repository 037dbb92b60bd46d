"""Reading uploaded files: encodings, delimiters, Excel, and every kind of bad file.

A bad file gets a clear message at upload; a bad row gets a reason in the report.
Never a 500, never half a row.
"""

import io
from datetime import date, datetime

import pytest
from django.utils import timezone, translation
from openpyxl import Workbook

from leads.import_files import (
    MAX_BYTES,
    ImportFileError,
    ImportOptions,
    mapping_guess,
    parse_rows,
    reason_text,
    table_open,
)
from leads.imports import AlreadyImported, import_run, import_start
from leads.models import ImportIssue, ImportJob, Lead


@pytest.fixture(autouse=True)
def english():
    """Messages are asserted in English (the German catalogue may be compiled)."""
    with translation.override("en"):
        yield


NOW = timezone.make_aware(datetime(2026, 3, 10, 12, 0))


def _rows(data: bytes, mapping: dict | None = None, **options):
    table = table_open(data=data)
    mapping = mapping if mapping is not None else mapping_guess(table.header)
    _table, rows = parse_rows(data=data, options=ImportOptions(mapping=mapping, **options), now=NOW)
    return table, rows


def _reasons(row) -> list[str]:
    return [reason_text(r) for r in row.errors]


def test_cp1252_umlauts_are_read_as_umlauts():
    data = (
        "Firma;Name;E-Mail;Datum\nMüller & Söhne GmbH;Jürgen Weiß;jw@example.com;01.03.2026\n"
    ).encode("cp1252")
    table, rows = _rows(data)
    assert (table.encoding, table.delimiter) == ("cp1252", ";")
    assert rows[0].data["company"] == "Müller & Söhne GmbH"
    assert rows[0].data["contact_name"] == "Jürgen Weiß"


def test_a_utf8_bom_does_not_end_up_in_the_first_column_name():
    data = "\ufeffE-Mail,Name,Datum\nanna@example.com,Anna Alt,2026-03-01\n".encode()
    table, rows = _rows(data)
    assert table.header[0] == "E-Mail"
    assert table.encoding == "utf-8-sig"
    assert mapping_guess(table.header)["email"] == 0
    assert rows[0].data["email"] == "anna@example.com"


def test_utf16_from_excel_unicode_text_is_read_with_tabs():
    data = "Name\tE-Mail\tDatum\r\nÖzlem Öz\toz@example.com\t01.03.2026\r\n".encode("utf-16")
    table, rows = _rows(data)
    assert table.delimiter == "\t"
    assert rows[0].data["contact_name"] == "Özlem Öz"


@pytest.mark.parametrize("delimiter", [";", ",", "\t", "|"])
def test_the_delimiter_is_found(delimiter):
    lines = (
        ["Name", "E-Mail", "Datum"],
        ["Anna Alt", "a@example.com", "01.03.2026"],
        ["Bo Bär", "b@example.com", "02.03.2026"],
    )
    data = "\n".join(delimiter.join(line) for line in lines).encode()
    table, rows = _rows(data)
    assert table.delimiter == delimiter
    assert [r.data["email"] for r in rows] == ["a@example.com", "b@example.com"]


def test_quoted_fields_with_delimiters_and_line_breaks_stay_one_row_numbered_like_a_spreadsheet():
    data = (
        b"Name;Nachricht;E-Mail;Datum\n"
        b'"Alt, Anna";"Bitte; anrufen\n'
        b'ab 10 Uhr";a@example.com;01.03.2026\n'
        b"Bo;x;not-an-email;01.03.2026\n"
    )
    _table, rows = _rows(data)
    assert rows[0].line == 2 and rows[0].data["message"] == "Bitte; anrufen\nab 10 Uhr"
    assert rows[1].line == 3 and rows[1].errors


def test_bad_emails_dates_phones_and_flags_are_row_errors_with_reasons():
    data = (
        b"Name;E-Mail;Telefon;Datum;Einwilligung;Land\n"
        b"Anna;anna(at)example.com;;01.03.2026;ja;DE\n"
        b"Bo;bo@example.com;;31.02.2026;ja;DE\n"
        b"Cem;;call me;01.03.2026;ja;DE\n"
        b"Dee;dee@example.com;;01.03.2026;vielleicht;DE\n"
        b"Eva;eva@example.com;;01.03.2099;ja;DE\n"
        b"Fritz;fritz@example.com;;01.03.2026;ja;Mars\n"
        b";nobody@example.com;;01.03.2026;ja;DE\n"
        b"Gerd;;;01.03.2026;ja;DE\n"
    )
    _table, rows = _rows(data)
    reasons = {row.line: " | ".join(_reasons(row)) for row in rows}
    assert "“anna(at)example.com” is not a valid email address" in reasons[2]
    assert "“31.02.2026” is not a date" in reasons[3]
    assert "“call me” is not a phone number" in reasons[4]
    assert "“vielleicht” in Consent given (yes/no) is neither yes nor no" in reasons[5]
    assert "lies in the future" in reasons[6]
    assert "“Mars” is not a country code" in reasons[7]
    assert "Contact person (full name) is missing" in reasons[8]
    assert "no email, phone or postal address" in reasons[9]
    assert all(row.data is None for row in rows)


def test_rows_without_a_date_take_the_files_date_and_without_either_are_errors():
    data = b"Name;E-Mail;Datum\nAnna;a@example.com;\nBo;b@example.com;02.03.2026 14:30\n"
    _table, rows = _rows(data, received_on=date(2026, 3, 5))
    assert timezone.localtime(rows[0].data["received_at"]) == timezone.make_aware(
        datetime(2026, 3, 5)
    )
    assert timezone.localtime(rows[1].data["received_at"]) == timezone.make_aware(
        datetime(2026, 3, 2, 14, 30)
    )
    _table, rows = _rows(data)
    assert "no date of receipt" in _reasons(rows[0])[0]


def test_a_row_with_more_values_than_the_header_is_reported_trailing_delimiters_are_not():
    data = (
        b"Name;E-Mail;Datum\n"
        b"Anna;a@example.com;01.03.2026;;\n"
        b"Bo;b@example.com;01.03.2026;extra;values\n"
    )
    _table, rows = _rows(data)
    assert rows[0].data is not None
    assert "the row has 5 values but the header only 3" in _reasons(rows[1])[0]


def test_a_row_with_fewer_values_reads_the_missing_ones_as_empty():
    data = b"Name;E-Mail;Telefon;Datum\nAnna;a@example.com\n"
    _table, rows = _rows(data, received_on=date(2026, 3, 1))
    assert rows[0].data["email"] == "a@example.com" and rows[0].data["phone"] == ""


def test_blank_lines_are_not_rows():
    data = b"Name;E-Mail;Datum\n\nAnna;a@example.com;01.03.2026\n;;\n\n"
    _table, rows = _rows(data)
    assert [row.line for row in rows] == [3]


def _xlsx(rows) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_an_excel_workbook_with_date_cells_and_numeric_postcodes_is_read():
    data = _xlsx(
        [
            ["Vorname", "Nachname", "E-Mail", "PLZ", "Telefon", "Eingang"],
            ["Anna", "Alt", "a@example.com", 1067, 4989123456, datetime(2026, 3, 2, 9, 30)],
            ["Bo", "Bär", "b@example.com", 80331, None, date(2026, 3, 3)],
        ]
    )
    table, rows = _rows(data)
    assert table.file_format == "xlsx"
    first, second = rows
    assert first.data["contact_name"] == "Anna Alt"
    assert first.data["postcode"] == "01067"  # Excel ate the leading zero; Germany has five digits
    assert first.data["phone"] == "4989123456"
    assert timezone.localtime(first.data["received_at"]) == timezone.make_aware(
        datetime(2026, 3, 2, 9, 30)
    )
    assert timezone.localtime(second.data["received_at"]) == timezone.make_aware(
        datetime(2026, 3, 3)
    )


def test_an_excel_file_renamed_to_csv_is_still_read_as_excel():
    data = _xlsx([["Name", "E-Mail"], ["Anna", "a@example.com"]])
    assert table_open(data=data).file_format == "xlsx"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"   \n\n", "The file is empty."),
        (
            b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4,
            "This is not a CSV or XLSX file",
        ),
        (
            b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\x00\x01\x02\x03\x04\x05\x06\x07\x08" * 20,
            "This is not a CSV or XLSX file",
        ),
        (b"PK\x03\x04" + b"\x00" * 100, "not an Excel workbook"),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 100, "old Excel file (.xls)"),
    ],
)
def test_files_that_are_no_table_get_a_clear_message(data, message):
    with pytest.raises(
        ImportFileError, match=message.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")
    ):
        table_open(data=data)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"Name;E-Mail;Datum\n", "The file has a header row but no data rows."),
        (b"just one column\nanna\nbo\n", "Only one column was found"),
        (b"x" * (MAX_BYTES + 1), "the limit is 20 MB"),
    ],
)
def test_the_upload_refuses_files_it_cannot_import(campaign, media, data, message):
    with pytest.raises(ImportFileError, match=message):
        import_start(campaign=campaign, name="x.csv", data=data, by=None, now=NOW)
    assert ImportJob.objects.count() == 0


def test_the_upload_guesses_the_mapping_and_counts_the_rows(campaign, media):
    data = (
        "Firma;Ansprechpartner;E-Mail;Telefon;PLZ;Ort;Eingangsdatum;Rückruf\n"
        "A;B;a@example.com;;;;01.03.2026;ja\n"
    ).encode()
    job = import_start(campaign=campaign, name="Messe.csv", data=data, by=None, now=NOW)
    assert job.total == 1
    assert job.mapping == {
        "company": 0,
        "contact_name": 1,
        "email": 2,
        "phone": 3,
        "postcode": 4,
        "city": 5,
        "received_at": 6,
        "wants_call": 7,
    }
    assert job.status == ImportJob.Status.MAPPING


def test_the_same_file_twice_is_refused(campaign, media):
    data = b"Name;E-Mail;Datum\nAnna;a@example.com;01.03.2026\n"
    job = import_start(campaign=campaign, name="a.csv", data=data, by=None, now=NOW)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.DONE)
    with pytest.raises(AlreadyImported, match="imported into this campaign already") as exc:
        import_start(campaign=campaign, name="copy of a.csv", data=data, by=None, now=NOW)
    assert exc.value.job == job


def test_a_file_that_breaks_off_keeps_the_rows_before_and_reports_the_rest(
    campaign, media, rep, settings
):
    import csv

    settings.TIME_ZONE = "Europe/Berlin"
    good = "".join(f"P{i};p{i}@example.com;01.03.2026\n" for i in range(5))
    data = ("Name;E-Mail;Datum\n" + good).encode()
    job = import_start(campaign=campaign, name="a.csv", data=data, by=None, now=NOW)
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.QUEUED,
        mapping={"contact_name": 0, "email": 1, "received_at": 2},
        lawful_basis="contract",
    )
    # The stored file gets a field bigger than csv allows after the third row.
    with job.file.open("wb") as handle:
        handle.write(
            (
                "Name;E-Mail;Datum\n"
                + good[: good.index("P3")]
                + '"'
                + "x" * (csv.field_size_limit() + 10)
            ).encode()
        )
    job = import_run(job_id=job.pk, chunk_size=2)
    assert job.status == ImportJob.Status.FAILED
    assert Lead.objects.filter(campaign=campaign).count() == 3
    issue = ImportIssue.objects.get(job=job)
    assert issue.line == 5 and "cannot be read from this row on" in reason_text(issue.reasons[0])
    assert job.created_count + job.failed == job.total
