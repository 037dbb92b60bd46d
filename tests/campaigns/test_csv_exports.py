"""Every CSV download speaks the reader's spreadsheet: German `;`, decimal commas,
dd.mm.yyyy dates and German headers; English `,` and ISO dates; both UTF-8 with BOM."""

import csv
import io
from datetime import datetime
from decimal import Decimal

import pytest
from django.utils import timezone, translation

from followups.exports import CsvDialect
from leadbridge.calendar import TZ

from ..factories import receive_lead

RECEIVED = datetime(2026, 3, 2, 9, 5, tzinfo=TZ)


def _download(client, url, language) -> tuple[bytes, list[list[str]]]:
    response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content)
    delimiter = ";" if language == "de" else ","
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig")), delimiter=delimiter))
    return body, rows


@pytest.fixture
def lead(campaign, rep):
    return receive_lead(
        campaign=campaign,
        company="Müller & Söhne GmbH",
        contact_name="Jörg Weiß",
        received_at=RECEIVED,
        now=RECEIVED,
    )


def test_german_readers_get_semicolons_german_headers_and_dates(client, marketer, lead):
    client.force_login(marketer)
    body, rows = _download(client, f"/campaigns/{lead.campaign_id}/leads.csv", "de")
    assert body.startswith("\ufeff".encode())  # Excel opens the umlauts as umlauts
    header, row = rows[0], rows[1]
    assert header[:4] == ["ID", "Eingegangen", "Firma", "Ansprechpartner"]
    record = dict(zip(header, row, strict=True))
    assert record["Firma"] == "Müller & Söhne GmbH" and record["Ansprechpartner"] == "Jörg Weiß"
    assert record["Eingegangen"] == "02.03.2026 09:05"


def test_english_readers_keep_commas_and_get_iso_dates(client, marketer, lead):
    client.force_login(marketer)
    body, rows = _download(client, f"/campaigns/{lead.campaign_id}/leads.csv", "en")
    assert body.startswith("\ufeff".encode())
    record = dict(zip(rows[0], rows[1], strict=True))
    assert record["Company"] == "Müller & Söhne GmbH"
    assert record["Received"] == "2026-03-02 09:05"


@pytest.mark.parametrize("language", ["de", "en"])
def test_every_csv_download_uses_the_readers_dialect(client, admin_user, lead, language):
    """The campaign's leads, nurturing, the dashboard's breakdown and its lead list: the
    header row splits into several readable columns with the language's delimiter."""
    client.force_login(admin_user)
    for url in (
        f"/campaigns/{lead.campaign_id}/leads.csv",
        "/campaigns/nurturing/?format=csv",
        "/dashboard/leads/?export=csv&from=2026-03-01&to=2026-03-31",
        "/dashboard/?export=rep&from=2026-03-01&to=2026-03-31",
    ):
        _body, rows = _download(client, url, language)
        assert len(rows[0]) > 3, url
        assert not any("_" in name for name in rows[0]), (url, rows[0])  # no snake_case


def test_numbers_and_dates_follow_the_dialect():
    german, english = CsvDialect.for_language("de"), CsvDialect.for_language("en")
    with translation.override("de"):
        assert [german.cell(v) for v in (Decimal("4500.50"), 0.25, 7, True, None)] == [
            "4500,50",
            "0,25",
            "7",
            "ja",
            "",
        ]
        assert german.cell(timezone.make_aware(datetime(2026, 12, 6, 14, 5))) == "06.12.2026 14:05"
    with translation.override("en"):
        assert [english.cell(v) for v in (Decimal("4500.50"), 0.25, False)] == [
            "4500.50",
            "0.25",
            "no",
        ]
    assert german.cell("=1+1") == "'=1+1" and german.cell("-12,5") == "-12,5"
