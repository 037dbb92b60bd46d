"""Workbooks whose sheet XML is broken, carries a DTD, or lies about its size.

The files are put together by hand with zipfile (Excel never writes these), so the
sheet XML is exactly what the test says.
"""

import io
import zipfile

import openpyxl
import pytest
from django.utils import translation

from leads.import_files import ImportFileError, table_open
from leads.imports import import_start
from leads.models import Lead

CONTENT_TYPES = """<?xml version="1.0" encoding="UTF-8"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">
<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>
<Default Extension="xml" ContentType="application/xml"/>
<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>
<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>
</Types>"""
ROOT_RELS = """<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>
</Relationships>"""
WORKBOOK = """<?xml version="1.0" encoding="UTF-8"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">
<sheets><sheet name="Leads" sheetId="1" r:id="rId1"/></sheets>
</workbook>"""
WORKBOOK_RELS = """<?xml version="1.0" encoding="UTF-8"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>
</Relationships>"""
MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"


def _row(number: int, values: list[str]) -> str:
    cells = "".join(
        f'<c r="{chr(65 + i)}{number}" t="inlineStr"><is><t>{value}</t></is></c>'
        for i, value in enumerate(values)
    )
    return f'<row r="{number}">{cells}</row>'


def _sheet(rows: list[list[str]], *, dimension: str | None = None, prolog: str = "") -> str:
    dim = f'<dimension ref="{dimension}"/>' if dimension else ""
    body = "".join(_row(i + 1, values) for i, values in enumerate(rows))
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>{prolog}'
        f'<worksheet xmlns="{MAIN}">{dim}<sheetData>{body}</sheetData></worksheet>'
    )


def _xlsx(sheet_xml: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", CONTENT_TYPES)
        archive.writestr("_rels/.rels", ROOT_RELS)
        archive.writestr("xl/workbook.xml", WORKBOOK)
        archive.writestr("xl/_rels/workbook.xml.rels", WORKBOOK_RELS)
        archive.writestr("xl/worksheets/sheet1.xml", sheet_xml)
    return buffer.getvalue()


ROWS = [
    ["Name", "E-Mail", "Datum"],
    *[[f"Person {i}", f"p{i}@example.com", "01.03.2026"] for i in range(1, 6)],
]

LAUGHS = (
    '<!DOCTYPE worksheet [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{i} "{f"&lol{i - 1};" * 10 if i > 1 else "&lol;" * 10}">'
        for i in range(1, 10)
    )
    + "]>"
)
EXTERNAL = '<!DOCTYPE worksheet [<!ENTITY secret SYSTEM "file:///etc/passwd">]>'


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


def test_openpyxl_reads_workbooks_through_defusedxml():
    assert openpyxl.DEFUSEDXML is True


def test_a_well_formed_hand_made_workbook_is_read():
    table = table_open(data=_xlsx(_sheet(ROWS, dimension="A1:C6")))
    assert table.header == ["Name", "E-Mail", "Datum"]
    assert [cells[0] for _line, cells in table.rows] == [f"Person {i}" for i in range(1, 6)]


@pytest.mark.parametrize("dimension", ["A1:C1", "A1:A1", "A1:C2", "A1", "B3:C4"])
def test_a_wrong_dimension_tag_does_not_cut_the_sheet(dimension):
    table = table_open(data=_xlsx(_sheet(ROWS, dimension=dimension)))
    rows = list(table.rows)
    assert [cells[:3] for _line, cells in rows] == [list(values) for values in ROWS[1:]]
    assert [line for line, _cells in rows] == [2, 3, 4, 5, 6]


def _refused(data: bytes) -> str:
    with pytest.raises(ImportFileError) as refused:
        table = table_open(data=data)
        list(table.rows)
    return str(refused.value)


@pytest.mark.parametrize(
    "sheet",
    [
        _sheet(ROWS).replace("</sheetData>", ""),  # not well-formed
        _sheet(ROWS)[:-40],  # cut off
        _sheet(ROWS).replace("<row ", "<row <", 1),
        "not xml at all",
    ],
    ids=["unclosed", "truncated", "garbage tag", "not xml"],
)
def test_malformed_sheet_xml_is_refused_with_a_reason(sheet):
    message = _refused(_xlsx(sheet))
    assert "cannot be read" in message and "Save it again" in message


@pytest.mark.parametrize("prolog", [LAUGHS, EXTERNAL], ids=["billion laughs", "external entity"])
def test_a_sheet_with_entities_is_refused_without_expanding_them(prolog):
    rows = [
        ["Name", "E-Mail", "Datum"],
        ["&lol9;" if prolog == LAUGHS else "&secret;", "a@b.de", "01.03.2026"],
    ]
    message = _refused(_xlsx(_sheet(rows, prolog=prolog)))
    assert "entities" in message


@pytest.mark.django_db
def test_the_upload_refuses_such_a_file_and_imports_nothing(campaign, marketer):
    from datetime import UTC, datetime

    now = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
    for data in (_xlsx(_sheet(ROWS)[:-40]), _xlsx(_sheet(ROWS[:2], prolog=LAUGHS))):
        with pytest.raises(ImportFileError):
            import_start(campaign=campaign, name="scan.xlsx", data=data, by=marketer, now=now)
    job = import_start(
        campaign=campaign,
        name="scan.xlsx",
        data=_xlsx(_sheet(ROWS, dimension="A1:C1")),
        by=marketer,
        now=now,
    )
    assert job.total == 5
    assert not Lead.objects.exists()


@pytest.mark.django_db
def test_the_upload_page_answers_a_broken_workbook_with_its_reason(client, marketer, campaign):
    client.force_login(marketer)
    upload = io.BytesIO(_xlsx(_sheet(ROWS[:2], prolog=LAUGHS)))
    upload.name = "scan.xlsx"
    response = client.post(
        f"/campaigns/{campaign.pk}/import/", {"file": upload}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code in {200, 400}
    assert "entities" in response.content.decode()
