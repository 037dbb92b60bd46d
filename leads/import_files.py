"""Reading lead files (CSV, XLSX): the table, the column mapping, each row checked.

`table_open` reads a file's rows, `mapping_guess` / `mapping_problems` the column
mapping, `RowParser` turns a row's cells into Lead fields or the reasons it cannot
be imported (ParsedRow). No database writes here: the job (leads/imports.py) hands
the checked rows to the intake pipeline (leads.intake).
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from functools import lru_cache
from itertools import islice
from typing import Any
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .models import (
    LawfulBasis,
    dedup_key,
    postal_address_complete,
    received_at_problem,
)

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200_000
PREVIEW_ROWS = 5
CHUNK_SIZE = 2000

# --- what a column can be -------------------------------------------------------

TARGETS: dict[str, Any] = {
    "external_id": _("External ID (scanner / coupon number)"),
    "company": _("Company"),
    "contact_name": _("Contact person (full name)"),
    "first_name": _("First name"),
    "last_name": _("Last name"),
    "email": _("Email"),
    "phone": _("Phone"),
    "street": _("Street"),
    "postcode": _("Postcode"),
    "city": _("City"),
    "country": _("Country"),
    "message": _("Message / notes"),
    "received_at": _("Received at (date, optionally time)"),
    "requests_material": _("Asked for material (yes/no)"),
    "wants_call": _("Wants a call (yes/no)"),
    "consent": _("Consent given (yes/no)"),
}

MAX_LENGTH = {
    "external_id": 100,
    "company": 200,
    "contact_name": 200,
    "email": 254,
    "phone": 50,
    "street": 200,
    "postcode": 10,
    "city": 100,
    "message": 5000,
}

# Header names (folded: lower case, ASCII, letters and digits only) that suggest a target.
SYNONYMS = {
    "external_id": {
        "id",
        "externalid",
        "externeid",
        "scanid",
        "badgeid",
        "badge",
        "barcode",
        "leadid",
        "kennung",
        "nr",
        "nummer",
        "couponnr",
        "couponnummer",
        "belegnr",
    },
    "company": {
        "company",
        "firma",
        "unternehmen",
        "organisation",
        "organization",
        "companyname",
        "firmenname",
        "firmierung",
    },
    "contact_name": {
        "name",
        "contact",
        "contactname",
        "kontakt",
        "ansprechpartner",
        "ansprechperson",
        "fullname",
        "vollername",
        "person",
        "kontaktperson",
    },
    "first_name": {"firstname", "vorname", "givenname"},
    "last_name": {"lastname", "nachname", "surname", "familienname", "zuname"},
    "email": {"email", "emailadresse", "mail", "emailaddress", "mailadresse"},
    "phone": {
        "phone",
        "telefon",
        "tel",
        "telefonnummer",
        "phonenumber",
        "mobil",
        "mobile",
        "handy",
        "telnr",
        "rufnummer",
    },
    "street": {"street", "strasse", "str", "address", "adresse", "anschrift", "strassehausnummer"},
    "postcode": {"postcode", "plz", "zip", "zipcode", "postleitzahl", "postalcode"},
    "city": {"city", "ort", "stadt", "town", "wohnort"},
    "country": {"country", "land", "countrycode", "laenderkennzeichen"},
    "message": {
        "message",
        "nachricht",
        "bemerkung",
        "bemerkungen",
        "kommentar",
        "comment",
        "comments",
        "notes",
        "notiz",
        "notizen",
        "anmerkung",
        "interesse",
        "anliegen",
    },
    "received_at": {
        "receivedat",
        "received",
        "date",
        "datum",
        "eingang",
        "eingangsdatum",
        "scandatum",
        "scandate",
        "zeitpunkt",
        "timestamp",
        "erfasst",
        "erfasstam",
        "datetime",
    },
    "requests_material": {
        "material",
        "infomaterial",
        "prospekt",
        "brochure",
        "katalog",
        "unterlagen",
        "wantsmaterial",
        "requestsmaterial",
        "materialgewuenscht",
    },
    "wants_call": {"rueckruf", "ruckruf", "callback", "anruf", "wantscall", "rueckrufgewuenscht"},
    "consent": {"consent", "einwilligung", "zustimmung", "dsgvo", "optin", "datenschutz"},
}

# --- why a row was not imported (rendered in the reader's language) -------------

REASONS: dict[str, Any] = {
    "required": _("%(field)s is missing"),
    "too_long": _("%(field)s is longer than %(max)d characters"),
    "email": _("“%(value)s” is not a valid email address"),
    "phone": _("“%(value)s” is not a phone number"),
    "date": _("“%(value)s” is not a date (write 31.12.2026 or 2026-12-31, optionally with a time)"),
    "date_future": _("%(value)s lies in the future"),
    "date_old": _("%(value)s lies before the year 2000"),  # models.RECEIVED_FLOOR
    "no_date": _("no date of receipt: the row has none and no date was given for the file"),
    "bool": _("“%(value)s” in %(field)s is neither yes nor no"),
    "country": _("“%(value)s” is not a country code (DE, AT, CH …)"),
    "unreachable": _("no email, phone or postal address: sales could not follow up"),
    "no_postal_address": _(
        "asks for printed material but has no postal address (street, postcode and city): "
        "add the address or answer no for the material"
    ),
    "no_consent": _("no consent, and consent is the lawful basis chosen for this file"),
    "too_many_cells": _(
        "the row has %(found)d values but the header only %(expected)d – "
        "check the delimiter and quotes"
    ),
    "save_failed": _("could not be saved: %(error)s"),
    "unreadable": _("the file cannot be read from this row on: %(error)s"),
    "erased": _("this person asked to be erased; record a new lawful basis to add them again"),
    "dup_email": _("known lead with the same email (lead %(lead)s)"),
    "dup_phone": _("known lead with the same phone number (lead %(lead)s)"),
    "dup_name": _("known lead with the same company and name (lead %(lead)s)"),
    "dup_external_id": _("imported before with the same external ID (lead %(lead)s)"),
}


def reason_text(reason: dict) -> str:
    params = dict(reason.get("params") or {})
    if reason.get("field") in TARGETS:
        params.setdefault("field", str(TARGETS[reason["field"]]))
    template = REASONS.get(reason.get("code"), reason.get("code", ""))
    try:
        return str(template) % params
    except (KeyError, TypeError, ValueError):
        return str(template)


class ImportFileError(Exception):
    """The file as a whole cannot be imported; the message is for the person who uploaded it."""


# --- reading files ----------------------------------------------------------------


@dataclass
class Table:
    file_format: str  # "csv" | "xlsx"
    encoding: str
    delimiter: str
    header: list[str]
    header_line: int
    rows: Iterator[
        tuple[int, list[Any]]
    ]  # (row number as a spreadsheet counts, cells); blank rows left out


_MAGIC_ZIP = b"PK\x03\x04"
_MAGIC_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # old .xls / .doc
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def table_open(*, data: bytes) -> Table:
    """The file's rows, whatever it was called: the content decides CSV or XLSX."""
    if not data.strip():
        raise ImportFileError(_("The file is empty."))
    if data.startswith(_MAGIC_ZIP):
        return _xlsx_table(data)
    if data.startswith(_MAGIC_OLE):
        raise ImportFileError(
            _("This is an old Excel file (.xls). Save it as .xlsx or as CSV and upload it again.")
        )
    text, encoding = _decode(data)
    return _csv_table(text, encoding)


def _decode(data: bytes) -> tuple[str, str]:
    if data.startswith(codecs.BOM_UTF8):
        text, encoding = data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text, encoding = data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError:
            raise ImportFileError(_("The file claims to be UTF-16 text but is not.")) from None
    else:
        if b"\x00" in data[:8192]:
            raise ImportFileError(_not_text())
        try:
            text, encoding = data.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            # Excel on Windows saves CSV as cp1252 ("Müller" as b"M\xfcller").
            text, encoding = data.decode("cp1252", errors="replace"), "cp1252"
    sample = text[:8192]
    if sample and len(_CONTROL.findall(sample)) > max(3, len(sample) // 100):
        raise ImportFileError(_not_text())
    return text.replace("\x00", ""), encoding


def _not_text():
    return _(
        "This is not a CSV or XLSX file (it contains binary data). Save the list as CSV or XLSX."
    )


_DELIMITERS = [";", ",", "\t", "|"]


def _sniff_delimiter(text: str) -> str:
    """The delimiter that splits the first lines into the most, equally long rows."""
    sample = text[:65536]
    if len(text) > len(sample) and "\n" in sample:
        sample = sample[: sample.rindex("\n")]
    best, best_score = ",", (0.0, 0)
    for delimiter in _DELIMITERS:
        try:
            rows = [
                row
                for row in islice(csv.reader(io.StringIO(sample), delimiter=delimiter), 50)
                if any(row)
            ]
        except csv.Error:
            continue
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        score = (sum(len(row) == width for row in rows) / len(rows), width)
        if score > best_score:
            best, best_score = delimiter, score
    return best


def _csv_table(text: str, encoding: str) -> Table:
    delimiter = _sniff_delimiter(text)
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    records = _records(reader)
    try:
        header_line, header = next(records)
    except StopIteration:
        raise ImportFileError(_("The file is empty.")) from None
    except csv.Error as exc:
        raise ImportFileError(
            _("The file cannot be read as CSV: %(error)s") % {"error": exc}
        ) from None
    return Table("csv", encoding, delimiter, _header_names(header), header_line, records)


def _records(reader) -> Iterator[tuple[int, list[Any]]]:
    """Non-blank records numbered as a spreadsheet shows them (a record with a quoted
    line break is still one row)."""
    for number, row in enumerate(reader, start=1):
        if any(cell.strip() for cell in row):
            yield number, row


def _xml_refused(exc: Exception) -> ImportFileError:
    """The reason for a workbook whose XML openpyxl (through defusedxml) would not read."""
    if isinstance(exc, DefusedXmlException):
        return ImportFileError(
            _(
                "The workbook declares XML entities, which Excel never writes and which are "
                "not read here. Open it in Excel and save it again, or save it as CSV."
            )
        )
    return ImportFileError(
        _(
            "The workbook cannot be read: its sheet is not well-formed XML (%(error)s). "
            "Save it again from Excel, or save it as CSV."
        )
        % {"error": str(exc)[:200]}
    )


def _xlsx_table(data: bytes) -> Table:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (
        ParseError,
        InvalidFileException,
        zipfile.BadZipFile,
        KeyError,
        OSError,
        ValueError,  # DefusedXmlException too
        TypeError,
    ) as exc:
        # openpyxl wraps what the XML parser raised in a ValueError of its own.
        for cause in (exc, exc.__cause__):
            if isinstance(cause, ParseError | DefusedXmlException):
                raise _xml_refused(cause) from None
        raise ImportFileError(
            _(
                "This file is a ZIP archive but not an Excel workbook (.xlsx). "
                "Save the list as CSV or XLSX."
            )
        ) from None
    if not workbook.worksheets:
        raise ImportFileError(_("The workbook has no sheets."))
    sheet = workbook.worksheets[0]
    # Read-only mode stops at the row the sheet's <dimension> names, and some writers
    # get it wrong (A1:C1 for a whole list): read to the sheet's real end instead.
    sheet.reset_dimensions()

    def rows():
        try:
            for number, row in enumerate(sheet.iter_rows(values_only=True), start=1):
                if any(cell is not None and str(cell).strip() for cell in row):
                    yield number, list(row)
        except (ParseError, DefusedXmlException) as exc:
            raise _xml_refused(exc) from None
        finally:
            workbook.close()

    records = rows()
    try:
        header_line, header = next(records)
    except StopIteration:
        raise ImportFileError(_("The first sheet of the workbook is empty.")) from None
    return Table("xlsx", "", "", _header_names(header), header_line, records)


def _header_names(cells: list[Any]) -> list[str]:
    cells = list(cells)
    while len(cells) > 1 and not cell_text(cells[-1]).strip():
        cells.pop()  # a stray delimiter at the end of the header line
    return [
        cell_text(cell).strip() or gettext("Column %(n)d") % {"n": i + 1}
        for i, cell in enumerate(cells)
    ]


def cell_text(value: Any) -> str:
    """A cell as text: Excel numbers without '.0', dates in ISO form."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    return str(value).replace("\x00", "")


def _fold(name: str) -> str:
    name = name.lower().replace("ß", "ss").replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
    name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]", "", name)


def mapping_guess(header: list[str]) -> dict[str, int]:
    """Targets for the columns whose names we recognise, first match wins."""
    mapping: dict[str, int] = {}
    for index, name in enumerate(header):
        folded = _fold(name)
        for target, names in SYNONYMS.items():
            if folded in names and target not in mapping:
                mapping[target] = index
                break
    if "contact_name" in mapping and "first_name" in mapping:
        # "Vorname" next to "Name": the name column holds the last name.
        name_column = mapping.pop("contact_name")
        mapping.setdefault("last_name", name_column)
    return mapping


def mapping_problems(
    *,
    mapping: dict[str, int],
    received_on: date | None,
    lawful_basis: str | None = None,
    consent_all: bool = False,
) -> list[str]:
    """What is missing before a file can be imported; empty when it can be.

    lawful_basis None: not asked (the mapping alone); "" or an unknown value: missing.
    """
    problems = []
    if lawful_basis is not None and lawful_basis not in LawfulBasis.values:
        problems.append(gettext("Choose the lawful basis on which these leads are kept."))
    if lawful_basis == LawfulBasis.CONSENT and not consent_all and "consent" not in mapping:
        problems.append(
            gettext(
                "With consent as the lawful basis, choose the column that says who consented, "
                "or tick that every row gave consent."
            )
        )
    if "contact_name" not in mapping and not ({"first_name", "last_name"} & mapping.keys()):
        problems.append(
            gettext("Choose the column with the contact person's name (or first and last name).")
        )
    if not ({"email", "phone", "street"} & mapping.keys()):
        problems.append(
            gettext("Choose at least one column to reach the lead by: email, phone or street.")
        )
    if "received_at" not in mapping and received_on is None:
        problems.append(
            gettext(
                "Choose the column with the date of receipt, or give one date for the whole file."
            )
        )
    return problems


# --- one row -----------------------------------------------------------------------

_TRUE = {"1", "x", "ja", "j", "yes", "y", "true", "wahr", "✓", "✔", "ok"}
_FALSE = {"", "0", "nein", "n", "no", "false", "falsch", "-", "–"}
_COUNTRIES = {
    "deutschland": "DE",
    "germany": "DE",
    "d": "DE",
    "ger": "DE",
    "deu": "DE",
    "osterreich": "AT",
    "oesterreich": "AT",
    "austria": "AT",
    "a": "AT",
    "aut": "AT",
    "schweiz": "CH",
    "switzerland": "CH",
    "suisse": "CH",
    "svizzera": "CH",
    "che": "CH",
}
_PHONE = re.compile(r"^[0-9+()\-/. ]+$")
_DATE_FORMATS = ["%d.%m.%Y", "%d.%m.%y", "%d/%m/%Y", "%Y/%m/%d"]
_DATETIME_FORMATS = [
    "%d.%m.%Y %H:%M:%S",
    "%d.%m.%Y %H:%M",
    "%d.%m.%y %H:%M",
    "%d/%m/%Y %H:%M",
    "%d.%m.%Y, %H:%M",
]


@dataclass
class ParsedRow:
    line: int
    values: list[str]
    data: dict | None = None  # Lead fields for lead_receive; None when the row has errors
    errors: list[dict] = field(default_factory=list)

    @property
    def key(self) -> str:
        d = self.data
        return dedup_key(
            email=d["email"], phone=d["phone"], company=d["company"], name=d["contact_name"]
        )


@dataclass
class ImportOptions:
    mapping: dict[str, int]
    received_on: date | None = None
    consent_all: bool = False
    material_all: bool = False
    # The material rows asking for one get is printed: only rows with a postal address may.
    material_printed: bool = False
    consent_text: str = ""
    consent_language: str = ""
    lawful_basis: str = LawfulBasis.CONTRACT  # import_run passes the job's; tests and bench this


class RowParser:
    """Turns a row's cells into Lead fields, or into the reasons it cannot be imported."""

    def __init__(self, *, options: ImportOptions, now: datetime):
        self.options = options
        self.mapping = {target: int(index) for target, index in options.mapping.items()}
        self.width = max(self.mapping.values(), default=-1) + 1
        self.now = now
        self.tz = timezone.get_default_timezone()

    def parse(self, line: int, cells: list[Any], *, header_width: int) -> ParsedRow:
        values = [cell if type(cell) is str else cell_text(cell) for cell in cells]
        row = ParsedRow(line=line, values=values)
        while len(values) > header_width and not values[-1].strip():
            values = values[:-1]  # trailing delimiters
        if len(values) > header_width:
            row.errors.append(reason("too_many_cells", found=len(values), expected=header_width))
            return row
        get = self._getter(values)
        data: dict[str, Any] = {}
        errors = row.errors
        for target in ("external_id", "company", "street", "postcode", "city", "message"):
            data[target] = self._limited(target, get(target), errors)
        name = get("contact_name") or " ".join(
            p for p in (get("first_name"), get("last_name")) if p
        )
        data["contact_name"] = self._limited("contact_name", name, errors)
        if not data["contact_name"]:
            errors.append(reason("required", "contact_name"))
        data["email"] = self._email(get("email"), errors)
        data["phone"] = self._phone(get("phone"), errors)
        data["country"] = self._country(get("country"), errors)
        data["postcode"] = self._postcode(cells, data["postcode"], data["country"])
        if not (data["email"] or data["phone"] or (data["street"] and data["city"])) and not any(
            e.get("field") in {"email", "phone"} for e in errors
        ):
            errors.append(reason("unreachable"))
        received_at = self._received_at(cells, get("received_at"), errors)
        data["received_at"] = received_at
        data["requests_material"] = self._flag(
            "requests_material", get, errors, self.options.material_all
        )
        if (
            data["requests_material"]
            and self.options.material_printed
            and not postal_address_complete(
                street=data["street"], postcode=data["postcode"], city=data["city"]
            )
        ):
            errors.append(reason("no_postal_address", "requests_material"))
        data["wants_call"] = self._flag("wants_call", get, errors, False)
        consent = self._flag("consent", get, errors, self.options.consent_all)
        data["consent_text"] = str(self.options.consent_text) if consent else ""
        data["consent_language"] = self.options.consent_language if consent else ""
        data["consent_at"] = received_at if consent else None
        data["lawful_basis"] = self.options.lawful_basis
        if self.options.lawful_basis == LawfulBasis.CONSENT and not consent:
            errors.append(reason("no_consent", "consent"))
        if not errors:
            row.data = data
        return row

    def _getter(self, values: list[str]) -> Callable[[str], str]:
        mapping, width = self.mapping, len(values)

        def get(target: str) -> str:
            index = mapping.get(target)
            if index is None or index >= width:
                return ""
            value = values[index]
            if target == "message":
                return value.strip()
            return (
                " ".join(value.split())
                if "  " in value or "\n" in value or "\t" in value
                else value.strip()
            )

        return get

    def _raw(self, cells: list[Any], target: str) -> Any:
        index = self.mapping.get(target)
        return cells[index] if index is not None and index < len(cells) else None

    @staticmethod
    def _limited(target: str, value: str, errors: list) -> str:
        limit = MAX_LENGTH.get(target)
        if limit and len(value) > limit:
            errors.append(reason("too_long", target, max=limit))
            return ""
        return value

    def _email(self, value: str, errors: list) -> str:
        if not value:
            return ""
        value = value.strip().strip("<>").removeprefix("mailto:")
        if not _is_email(value):
            errors.append(reason("email", "email", value=value[:100]))
            return ""
        return self._limited("email", value, errors)

    def _phone(self, value: str, errors: list) -> str:
        if not value:
            return ""
        if not _PHONE.match(value) or len(re.sub(r"\D", "", value)) < 5:
            errors.append(reason("phone", "phone", value=value[:60]))
            return ""
        return self._limited("phone", value, errors)

    def _country(self, value: str, errors: list) -> str:
        if not value:
            return "DE"
        folded = _fold(value)
        if folded in _COUNTRIES:
            return _COUNTRIES[folded]
        if len(folded) == 2 and folded.isalpha():
            return folded.upper()
        errors.append(reason("country", "country", value=value[:60]))
        return "DE"

    def _postcode(self, cells: list[Any], value: str, country: str) -> str:
        # Excel turns 01067 (Dresden) into the number 1067.
        raw = self._raw(cells, "postcode")
        if isinstance(raw, int | float) and country == "DE" and value.isdigit():
            return value.zfill(5)
        return value

    def _received_at(self, cells: list[Any], value: str, errors: list) -> datetime | None:
        raw = self._raw(cells, "received_at")
        if isinstance(raw, datetime):
            moment = raw
        elif isinstance(raw, date):
            moment = datetime.combine(raw, time.min)
        elif value:
            moment = _parse_moment(value)
            if moment is None:
                errors.append(reason("date", "received_at", value=value[:60]))
                return None
        elif self.options.received_on is not None:
            moment = datetime.combine(self.options.received_on, time.min)
        else:
            errors.append(reason("no_date", "received_at"))
            return None
        if moment.tzinfo is None:
            moment = _aware(moment, self.tz)
        problem = received_at_problem(moment, now=self.now)
        if problem is not None:
            errors.append(reason(f"date_{problem}", "received_at", value=_shown(moment, self.tz)))
        return moment

    def _flag(self, target: str, get, errors: list, default: bool) -> bool:
        if target not in self.mapping:
            return default  # not in the file: the choice made for the whole file
        value = get(target).strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        errors.append(reason("bool", target, value=value[:30]))
        return False


_GERMAN = re.compile(
    r"^(\d{1,2})\.(\d{1,2})\.(\d{2}|\d{4}),?(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?(?:\s*Uhr)?)?$"
)


# Django's EmailValidator, its common path without the lazy-regex indirection per call.
_EMAIL_USER = re.compile(validate_email.user_regex.pattern, re.IGNORECASE)
_EMAIL_DOMAIN = re.compile(validate_email.domain_regex.pattern, re.IGNORECASE)


def _is_email(value: str) -> bool:
    if len(value) > 320 or "@" not in value:
        return False
    user, domain = value.rsplit("@", 1)
    if not _EMAIL_USER.match(user):
        return False
    if _EMAIL_DOMAIN.match(domain):
        return True
    try:  # localhost, [literal addresses]: the validator itself decides
        validate_email(value)
    except ValidationError:
        return False
    return True


def _parse_moment(value: str) -> datetime | None:
    """31.12.2026, 31.12.26 14:05, 2026-12-31T14:05:00+01:00, 31/12/2026 14:05 …"""
    text = value.strip()
    match = _GERMAN.match(text)
    if match:
        day, month, year, hour, minute, second = match.groups()
        year = int(year) + (2000 if len(year) == 2 else 0)
        try:
            return datetime(
                year, int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0)
            )
        except ValueError:
            return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        pass
    for fmt in _DATE_FORMATS + _DATETIME_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


@lru_cache(maxsize=4096)
def _aware_cached(moment: datetime, tz) -> datetime:
    return timezone.make_aware(moment, tz)


def _aware(moment: datetime, tz) -> datetime:
    # Scans repeat the same minute many times; make_aware (zoneinfo) is worth caching.
    return _aware_cached(moment, tz)


def _shown(moment: datetime, tz) -> str:
    return date_format(timezone.localtime(moment, tz), "SHORT_DATETIME_FORMAT")


def reason(code: str, target: str = "", **params) -> dict:
    return {"field": target, "code": code, "params": params}


def parse_rows(
    *, data: bytes, options: ImportOptions, now: datetime
) -> tuple[Table, list[ParsedRow]]:
    """Every data row of a file, parsed (tests and the benchmark use it)."""
    table = table_open(data=data)
    parser = RowParser(options=options, now=now)
    width = len(table.header)
    return table, [parser.parse(line, cells, header_width=width) for line, cells in table.rows]
