"""CSV downloads that are safe to open in Excel or LibreOffice."""

import csv
from collections.abc import Iterable

from django.http import StreamingHttpResponse

# A cell starting with one of these is a formula to a spreadsheet (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value) -> str:
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


class _Echo:
    def write(self, value):
        return value


def csv_response(filename: str, header: list, rows: Iterable[list]) -> StreamingHttpResponse:
    """Streamed, UTF-8 with BOM (Excel reads umlauts), semicolon-free comma CSV."""
    writer = csv.writer(_Echo())

    def lines():
        yield "\ufeff" + writer.writerow([safe_cell(h) for h in header])
        for row in rows:
            yield writer.writerow([safe_cell(cell) for cell in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
