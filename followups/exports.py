"""CSV downloads that open as they should in the reader's spreadsheet (Excel, LibreOffice).

The reader's language picks the dialect: German Excel splits columns at `;` and reads
`1,5` as a number and `06.12.2026 14:05` as a date; English Excel splits at `,` and
reads `1.5` and ISO dates (`2026-12-06 14:05`, unambiguous where 12/06 is not). Both
get UTF-8 with a byte order mark, without which Excel shows umlauts as mojibake.
Callers pass readable, translated headers and raw values (datetimes, dates, numbers,
booleans): the cells are formatted here, in one place.
"""

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from django.http import StreamingHttpResponse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

# A cell starting with one of these is a formula to a spreadsheet (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class CsvDialect:
    delimiter: str
    decimal: str
    datetime_format: str
    date_format: str

    @classmethod
    def for_language(cls, language: str | None) -> "CsvDialect":
        if (language or "").startswith("de"):
            return GERMAN
        return ENGLISH

    def cell(self, value) -> str:
        """One value as the spreadsheet of this dialect reads it; text is defused."""
        if value is None:
            return ""
        if isinstance(value, bool):
            return _("yes") if value else _("no")
        if isinstance(value, datetime):
            if timezone.is_aware(value):
                value = timezone.localtime(value)
            return value.strftime(self.datetime_format)
        if isinstance(value, date):
            return value.strftime(self.date_format)
        if isinstance(value, int):
            return str(value)
        if isinstance(value, (float, Decimal)):
            return str(value).replace(".", self.decimal)
        return safe_cell(value)


GERMAN = CsvDialect(
    delimiter=";", decimal=",", datetime_format="%d.%m.%Y %H:%M", date_format="%d.%m.%Y"
)
ENGLISH = CsvDialect(
    delimiter=",", decimal=".", datetime_format="%Y-%m-%d %H:%M", date_format="%Y-%m-%d"
)


def safe_cell(value) -> str:
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA_START) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text.replace(",", "."))
    except ValueError:
        return False
    return True


class _Echo:
    def write(self, value):
        return value


def csv_response(filename: str, header: list, rows: Iterable[list]) -> StreamingHttpResponse:
    """Streamed CSV in the dialect of the active language (see the module docstring)."""
    language = translation.get_language()
    dialect = CsvDialect.for_language(language)
    writer = csv.writer(_Echo(), delimiter=dialect.delimiter)

    def lines():
        # Streamed after the view returned: rows render their labels in the reader's language.
        with translation.override(language):
            yield "\ufeff" + writer.writerow([safe_cell(h) for h in header])
            for row in rows:
                yield writer.writerow([dialect.cell(cell) for cell in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
