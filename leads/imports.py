"""Lead import from CSV and XLSX files (trade-fair scans, reply coupons).

Flow: `import_start` stores the upload and reads its header (the mapping
preview), `import_configure` takes the column mapping and queues the job, the
Celery task calls `import_run`, which imports in chunks of CHUNK_SIZE rows.

Every row ends up either as a lead or as an ImportIssue (the error report):
rows are validated first; a bad row is reported with its row number and
reasons and never touches the database. A chunk commits together with the
job's counters, so the progress bar shows committed rows only and a restarted
task resumes after the last committed chunk.

A chunk is written in bulk (`_Chunk.run_batched`): the same routing,
follow-ups and timeline rows that `lead_receive` would write one by one, in
a handful of queries. If the bulk write fails (say, an API request stored the
same external ID a moment earlier), the chunk is rolled back and repeated row
by row through `lead_receive`, each row in its own savepoint
(`_Chunk.run_one_by_one`). tests/leads/test_import_equivalence.py holds the
two paths to the same rows.
"""

from __future__ import annotations

import codecs
import csv
import enum
import gc
import hashlib
import io
import operator
import re
import unicodedata
import zipfile
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cached_property, lru_cache
from itertools import islice
from typing import Any
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.validators import validate_email
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models import Count, F, JSONField
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.text import get_valid_filename
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import Role, RoutingRule, Team, User
from leadbridge.jsontext import JsonText, for_copy, for_orm

from .models import (
    ImportIssue,
    ImportJob,
    LawfulBasis,
    Lead,
    LeadEvent,
    Source,
    dedup_key,
    lawful_basis_record,
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
    while len(cells) > 1 and not _text(cells[-1]).strip():
        cells.pop()  # a stray delimiter at the end of the header line
    return [
        _text(cell).strip() or gettext("Column %(n)d") % {"n": i + 1}
        for i, cell in enumerate(cells)
    ]


def _text(value: Any) -> str:
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
        values = [cell if type(cell) is str else _text(cell) for cell in cells]
        row = ParsedRow(line=line, values=values)
        while len(values) > header_width and not values[-1].strip():
            values = values[:-1]  # trailing delimiters
        if len(values) > header_width:
            row.errors.append(_reason("too_many_cells", found=len(values), expected=header_width))
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
            errors.append(_reason("required", "contact_name"))
        data["email"] = self._email(get("email"), errors)
        data["phone"] = self._phone(get("phone"), errors)
        data["country"] = self._country(get("country"), errors)
        data["postcode"] = self._postcode(cells, data["postcode"], data["country"])
        if not (data["email"] or data["phone"] or (data["street"] and data["city"])) and not any(
            e.get("field") in {"email", "phone"} for e in errors
        ):
            errors.append(_reason("unreachable"))
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
            errors.append(_reason("no_postal_address", "requests_material"))
        data["wants_call"] = self._flag("wants_call", get, errors, False)
        consent = self._flag("consent", get, errors, self.options.consent_all)
        data["consent_text"] = str(self.options.consent_text) if consent else ""
        data["consent_language"] = self.options.consent_language if consent else ""
        data["consent_at"] = received_at if consent else None
        data["lawful_basis"] = self.options.lawful_basis
        if self.options.lawful_basis == LawfulBasis.CONSENT and not consent:
            errors.append(_reason("no_consent", "consent"))
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
            errors.append(_reason("too_long", target, max=limit))
            return ""
        return value

    def _email(self, value: str, errors: list) -> str:
        if not value:
            return ""
        value = value.strip().strip("<>").removeprefix("mailto:")
        if not _is_email(value):
            errors.append(_reason("email", "email", value=value[:100]))
            return ""
        return self._limited("email", value, errors)

    def _phone(self, value: str, errors: list) -> str:
        if not value:
            return ""
        if not _PHONE.match(value) or len(re.sub(r"\D", "", value)) < 5:
            errors.append(_reason("phone", "phone", value=value[:60]))
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
        errors.append(_reason("country", "country", value=value[:60]))
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
                errors.append(_reason("date", "received_at", value=value[:60]))
                return None
        elif self.options.received_on is not None:
            moment = datetime.combine(self.options.received_on, time.min)
        else:
            errors.append(_reason("no_date", "received_at"))
            return None
        if moment.tzinfo is None:
            moment = _aware(moment, self.tz)
        problem = received_at_problem(moment, now=self.now)
        if problem is not None:
            errors.append(_reason(f"date_{problem}", "received_at", value=_shown(moment, self.tz)))
        return moment

    def _flag(self, target: str, get, errors: list, default: bool) -> bool:
        if target not in self.mapping:
            return default  # not in the file: the choice made for the whole file
        value = get(target).strip().lower()
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        errors.append(_reason("bool", target, value=value[:30]))
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
    return timezone.localtime(moment, tz).strftime("%d.%m.%Y %H:%M")


def _reason(code: str, target: str = "", **params) -> dict:
    return {"field": target, "code": code, "params": params}


# --- writing a chunk -----------------------------------------------------------------


@dataclass
class Outcome:
    created: int = 0
    duplicates: int = 0
    failed: int = 0
    issues: list[ImportIssue] = field(default_factory=list)


_DUP_CODE = {"e": "dup_email", "p": "dup_phone", "n": "dup_name"}


def _waiting_order(rep: User) -> tuple:
    stamp = rep.last_assigned_at
    return (stamp is not None, stamp or datetime.min.replace(tzinfo=UTC), rep.id)


class _Router:
    """Exactly what leads.services.team_for + rep_for decide, for many leads at once.

    rep_for picks, per lead, the present rep under today's capacity who waited
    longest (ties by pk), else the longest-waiting one, and stamps them with
    `now`. Here the same choice is replayed in memory. The router lives for a
    whole import: the first chunk reads each rep's leads of today (rep_for's
    count, a scan of all the reps' leads — too slow to repeat per chunk of a
    big file); every later chunk locks the team row as rep_for does, re-reads
    the reps and their stamps, and adds the leads others gave them since (by pk
    above a watermark), so web-form leads arriving meanwhile count too.
    """

    def __init__(self, *, campaign):
        self.campaign = campaign
        self._rules: list[RoutingRule] | None = None
        self._reps: dict[int, list[User]] = {}  # team pk → present reps, this chunk
        self._today: dict[int, int] = {}  # rep pk → leads created today
        self._day = None
        self._watermark = 0  # highest lead pk looked at
        self._own: set[int] = set()  # pks of leads this import wrote since the last look

    def begin(self, *, now: datetime) -> None:
        """Start a chunk: forget the reps read for the last one (stamps are re-read)."""
        day = timezone.localtime(now).date()
        if day != self._day:  # a new day (or the first chunk): counts start afresh
            self._day = day
            self._today = {}
            self._watermark = 0
        self._reps = {}
        self._now = now
        self._rules = None

    def team_for(self, *, channel: str, country: str, postcode: str) -> Team | None:
        if self.campaign is not None and self.campaign.team_id:
            return self.campaign.team
        if self._rules is None:
            self._rules = list(RoutingRule.objects.select_related("team"))
        for rule in self._rules:
            if rule.matches(channel=channel, country=country, postcode=postcode):
                return rule.team
        return None

    def _load(self, team: Team) -> list[User]:
        Team.objects.select_for_update().filter(pk=team.pk).first()
        reps = list(
            User.objects.filter(team=team, role=Role.REP, is_active=True, is_absent=False).order_by(
                F("last_assigned_at").asc(nulls_first=True), "pk"
            )
        )
        start_of_day = timezone.localtime(self._now).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        unknown = [rep.pk for rep in reps if rep.pk not in self._today]
        if unknown:  # rep_for's count, once per rep and day
            self._watermark = self._watermark or (
                Lead.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
            )
            counts = dict(
                Lead.objects.filter(
                    owner_id__in=unknown, created_at__gte=start_of_day, pk__lte=self._watermark
                )
                .values("owner_id")
                .annotate(n=Count("pk"))
                .values_list("owner_id", "n")
            )
            for pk in unknown:
                self._today[pk] = counts.get(pk, 0)
        newer = Lead.objects.filter(
            pk__gt=self._watermark, owner_id__in=list(self._today), created_at__gte=start_of_day
        ).values_list("pk", "owner_id")
        for pk, owner_id in newer:
            if pk not in self._own:
                self._today[owner_id] = self._today.get(owner_id, 0) + 1
            self._watermark = max(self._watermark, pk)
        self._own.clear()
        for rep in reps:
            rep.touched = False
        return reps

    def rep_for(self, team: Team | None, now: datetime) -> User | None:
        if team is None:
            return None
        reps = self._reps.get(team.pk)
        if reps is None:
            reps = self._reps[team.pk] = self._load(team)
        if not reps:
            return None
        today = self._today
        # rep_for's order: never assigned first, then longest waiting, then pk. The
        # list is kept in that order: the rep chosen gets the newest stamp and goes
        # last (re-sorted only if some stamp is newer, e.g. a clock ahead elsewhere).
        rep = next((u for u in reps if today[u.id] < u.daily_capacity), reps[0])
        rep.last_assigned_at = now
        today[rep.id] += 1
        rep.touched = True
        reps.remove(rep)
        if reps and reps[-1].last_assigned_at is not None and reps[-1].last_assigned_at >= now:
            reps.append(rep)
            reps.sort(key=_waiting_order)
        else:
            reps.append(rep)
        return rep

    def written(self, pks: list[int]) -> None:
        self._own.update(pks)

    def save(self) -> None:
        for reps in self._reps.values():
            for rep in reps:
                if rep.touched:
                    User.objects.filter(pk=rep.pk).update(last_assigned_at=rep.last_assigned_at)
                    rep.touched = False


class _Chunk:
    """One chunk of parsed rows of one import, written in bulk or row by row."""

    def __init__(
        self,
        *,
        campaign,
        actor: User | None,
        on_duplicate: str,
        now: datetime,
        shared: dict | None = None,
    ):
        self.campaign = campaign
        self.actor = actor
        self.on_duplicate = on_duplicate
        self.now = now
        # What outlives a chunk within one import: the follow-up shapes (rows share their
        # timestamps) and the router (see _Router).
        shared = {} if shared is None else shared
        self.shapes = shared.setdefault("shapes", {})
        self.minutes = shared.setdefault("minutes", {})
        self.router = shared.setdefault("router", _Router(campaign=campaign))

    def instant(self, line: int) -> datetime:
        """The `now` a row is received at. Each row gets its own instant (a microsecond
        apart) so the routing's longest-waiting-rep order moves on as it does for leads
        arriving one by one; both paths use it, so both route alike."""
        return self.now + timedelta(microseconds=line)

    # -- row by row: the reference -------------------------------------------------

    def run_one_by_one(self, rows: list[ParsedRow], job: ImportJob | None = None) -> Outcome:
        from campaigns.services import lead_intake

        from .services import OnDuplicate

        outcome = Outcome()
        for row in rows:
            if row.errors:
                self._error(outcome, row, row.errors, job)
                continue
            try:
                with transaction.atomic():  # the row's savepoint: all of it or nothing
                    intake = lead_intake(
                        campaign=self.campaign,
                        data=row.data,
                        source=Source.IMPORT,
                        now=self.instant(row.line),
                        actor=self.actor,
                        on_duplicate=OnDuplicate.MERGE
                        if self.on_duplicate == "merge"
                        else OnDuplicate.SKIP,
                    )
            except (IntegrityError, DataError, ValidationError, ValueError) as exc:
                self._error(outcome, row, [_reason("save_failed", error=str(exc)[:200])], job)
                continue
            if intake.created:
                outcome.created += 1
            elif intake.duplicate:
                kind = (
                    ImportIssue.Kind.MERGED
                    if self.on_duplicate == "merge"
                    else ImportIssue.Kind.SKIPPED
                )
                self._duplicate(outcome, row, kind, intake.lead.pk, job)
            else:
                self._duplicate(outcome, row, ImportIssue.Kind.EXISTING, intake.lead.pk, job)
        return outcome

    # -- in bulk -------------------------------------------------------------------

    def run_batched(self, rows: list[ParsedRow], job: ImportJob | None = None) -> Outcome:
        """The same rows as run_one_by_one, in a handful of queries. Call inside a transaction.

        Known leads are looked up once for the chunk (by external ID, then by identity,
        the most recent first as duplicate_of does); a merge goes through lead_receive
        itself, after the chunk's pending leads are written if it merges into one of them.
        """
        from .services import OnDuplicate, lead_receive

        campaign = self.campaign
        outcome = Outcome()
        valid = [row for row in rows if not row.errors]
        external_ids = {row.data["external_id"] for row in valid if row.data["external_id"]}
        by_external: dict[str, _NewLead | int] = (
            dict(
                # exclude(external_id=""): says what the unique index's condition says,
                # so PostgreSQL can use that partial index for a list of any length.
                Lead.objects.filter(campaign=campaign, external_id__in=external_ids)
                .exclude(external_id="")
                .values_list("external_id", "pk")
            )
            if external_ids
            else {}
        )
        by_key: dict[str, _NewLead | int] = {}
        keys = {row.key for row in valid}
        for key, pk in (
            Lead.objects.filter(dedup_key__in=keys)
            .order_by("dedup_key", "-received_at", "-pk")
            .values_list("dedup_key", "pk")
        ):
            by_key.setdefault(key, pk)
        pending = _Pending(chunk=self)
        for row in rows:
            if row.errors:
                self._error(outcome, row, row.errors, job)
                continue
            external_id = row.data["external_id"]
            if external_id and external_id in by_external:
                self._duplicate(
                    outcome, row, ImportIssue.Kind.EXISTING, by_external[external_id], job
                )
                continue
            key = row.key
            if key in by_key:
                if self.on_duplicate != "merge":
                    self._duplicate(outcome, row, ImportIssue.Kind.SKIPPED, by_key[key], job)
                    continue
                if isinstance(by_key[key], _NewLead) and by_key[key].pk is None:
                    pending.flush(outcome)  # it merges into a lead of this chunk: write that first
                intake = lead_receive(
                    data=row.data,
                    source=Source.IMPORT,
                    now=self.instant(row.line),
                    actor=self.actor,
                    campaign=campaign,
                    on_duplicate=OnDuplicate.MERGE,
                )
                self._duplicate(outcome, row, ImportIssue.Kind.MERGED, intake.lead.pk, job)
                continue
            new = pending.add(row)
            by_key[key] = new
            if external_id:
                by_external[external_id] = new
        pending.flush(outcome)
        return outcome

    # -- report rows -----------------------------------------------------------------

    @staticmethod
    def _error(outcome: Outcome, row: ParsedRow, reasons: list[dict], job) -> None:
        outcome.failed += 1
        outcome.issues.append(
            ImportIssue(
                job=job,
                line=row.line,
                kind=ImportIssue.Kind.ERROR,
                reasons=reasons,
                values=row.values,
            )
        )

    @staticmethod
    def _duplicate(outcome: Outcome, row: ParsedRow, kind: str, lead: _NewLead | int, job) -> None:
        outcome.duplicates += 1
        code = "dup_external_id" if kind == ImportIssue.Kind.EXISTING else _DUP_CODE[row.key[0]]
        issue = ImportIssue(
            job=job, line=row.line, kind=kind, reasons=[_reason(code)], values=row.values
        )
        if isinstance(lead, _NewLead):
            issue._pending_lead = lead  # written at the end of the chunk: its pk is read then
        else:
            issue.lead_id = lead
        outcome.issues.append(issue)


class _NewLead:
    """A lead of the chunk not written yet: its column values, and its pk once written."""

    __slots__ = ("line", "values", "pk", "owner", "team", "followups", "sent_at")

    def __init__(self, line: int, values: dict):
        self.line = line
        self.values = values
        self.pk = None
        self.owner = None
        self.team = None
        self.followups: list[dict] = []
        self.sent_at: datetime | None = None  # digital material emailed at intake


def _defaults(model) -> dict:
    """A new row of the model as Django would fill it in: every concrete field's default."""
    return {
        f.attname: _plain(f.get_default()) for f in model._meta.concrete_fields if not f.primary_key
    }


def _plain(value):
    """Plain values for COPY: choices members as their value, lazy texts as text."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Promise):
        return str(value)
    return value


def _insert(model, rows: list[dict], *, pks: bool = True) -> list[int]:
    """Insert rows (dicts of attname → value, defaults filled in); their pks in order.

    PostgreSQL: pks drawn from the table's sequence, rows written with COPY
    (an order of magnitude cheaper than INSERT … VALUES for thousands of rows).
    pks=False, for rows nothing refers to (timeline rows): on PostgreSQL the table's
    default draws them inside COPY, which spares a nextval per row, and [] is returned.
    Elsewhere: bulk_create.
    """
    if not rows:
        return []
    meta = model._meta
    if connection.vendor != "postgresql":
        objects = model.objects.bulk_create(
            [model(**{k: for_orm(v) for k, v in row.items()}) for row in rows],
            batch_size=500,
        )
        for row, obj in zip(rows, objects, strict=True):
            row[meta.pk.attname] = obj.pk
        return [obj.pk for obj in objects]
    fields = [f for f in meta.concrete_fields if pks or f is not meta.pk]
    names = [f.attname for f in fields]
    values_of = operator.itemgetter(*names)
    json_columns = [i for i, f in enumerate(fields) if isinstance(f, JSONField)]
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        ids: list[int] = []
        if pks:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
                [meta.db_table, meta.pk.column, len(rows)],
            )
            ids = [pk for (pk,) in cursor.fetchall()]
            pk_name = meta.pk.attname
            for pk, row in zip(ids, rows, strict=True):
                row[pk_name] = pk
        columns = ", ".join(quote(f.column) for f in fields)
        with cursor.cursor.copy(f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN") as copy:
            for row in rows:
                values = list(values_of(row))
                for i in json_columns:
                    values[i] = for_copy(values[i])
                copy.write_row(values)
    return ids


class _Span:
    """Business-time results for one chunk's dispatch instants, computed at the two ends
    of the span instead of once per row.

    A chunk's rows are received at now + line µs (see _Chunk.instant), a span of well
    under a second. A count of business minutes never falls as the instant moves on,
    so if both ends give the same count every instant between does. A deadline that
    moves by exactly the span from one end to the other, with both ends inside one
    open office interval, moves with the clock for every instant between (business
    time runs like the clock there); one equal at both ends (the office is closed,
    everything waits for the opening) is equal between. Otherwise — the span crosses
    an opening or a closing — each row is computed itself. tests/leads/test_import_equivalence.py
    holds both cases to the row-by-row results.
    """

    DEADLINES = ("starts_at", "warn_at", "due_at", "overdue_at", "escalate_at", "reassign_at")

    def __init__(self, lo: datetime, hi: datetime, minutes: dict | None = None):
        self.lo, self.hi = lo, hi
        # (calendar, start) -> (a, b, m): business minutes from start are m for every
        # instant from a to b. Kept across chunks (the caller's dict): a file repeats
        # its few hundred timestamps in every chunk.
        self._minutes: dict = {} if minutes is None else minutes
        self._shapes: dict = {}

    def minutes(self, calendar, start: datetime, at: datetime) -> int:
        key = (calendar, start)
        known = self._minutes.get(key)
        if known is not None and known[0] <= self.lo and self.hi <= known[1]:
            return known[2]
        lo = calendar.business_minutes_between(start, self.lo)
        if lo != calendar.business_minutes_between(start, self.hi):
            return calendar.business_minutes_between(start, at)
        # Business minutes never fall as time moves on, so equal at both ends of two
        # overlapping or touching ranges means equal across their union.
        if known is not None and known[2] == lo and known[0] <= self.hi and self.lo <= known[1]:
            self._minutes[key] = (min(known[0], self.lo), max(known[1], self.hi), lo)
        else:
            self._minutes[key] = (self.lo, self.hi, lo)
        return lo

    def shape(self, calendar, key, at: datetime, build: Callable[[datetime], dict]) -> dict:
        """build(at) for a shape whose deadlines follow `at`; computed twice per key."""
        if key not in self._shapes:
            lo, hi = build(self.lo), build(self.hi)
            self._shapes[key] = (lo, self._moving(calendar, lo, hi))
        base, moving = self._shapes[key]
        if moving is None:
            return build(at)
        shift = at - self.lo
        return {**base, **{name: base[name] + shift for name in moving}}

    def _moving(self, calendar, lo: dict, hi: dict) -> list[str] | None:
        """The deadlines that move with the clock across the span; None if one neither
        moves with it nor stays put (then each row is computed itself). A deadline never
        falls as its start moves on, so one equal at both ends is the same between."""
        span = self.hi - self.lo
        # The whole span in one stretch of closed office: business time from any of
        # its instants starts at the same opening, so every deadline is either that
        # constant or the start itself (starts_at, a warning point clamped to it).
        opening = calendar.snap(self.lo)
        closed = opening > self.hi and calendar.snap(self.hi) == opening
        moving = []
        for name in self.DEADLINES:
            a, b = lo[name], hi[name]
            if a == b:
                continue
            if closed and (a, b) == (self.lo, self.hi):
                moving.append(name)
                continue
            if a is None or b is None or b - a != span or not self._one_interval(calendar, a, b):
                return None
            moving.append(name)
        return moving

    @staticmethod
    def _one_interval(calendar, a: datetime, b: datetime) -> bool:
        """a and b lie in the same open stretch of office hours."""
        from followups.calendar import TZ

        a_local, b_local = a.astimezone(TZ), b.astimezone(TZ)
        return (
            calendar.snap(a) == a
            and a_local.date() == b_local.date()
            and b_local.time() < calendar.closes_at
        )


class _Pending:
    """New leads of a chunk waiting to be written together, as lead_receive would write them.

    Rows are plain dicts with each model's defaults, so nothing is built twice.
    The follow-ups come from followups.services.initial_followups, computed once
    per lead "shape" — what they depend on: received_at, material asked for (and
    whether printed), wants_call, channel, team (calendar), policy — and copied to
    every lead of that shape with its own lead and assignee. Fair scans share a
    few hundred timestamps; that is where the time goes otherwise.
    """

    def __init__(self, *, chunk: _Chunk):
        self.chunk = chunk
        self.router = chunk.router
        self.router.begin(now=chunk.now)
        self.leads: list[_NewLead] = []
        self._policies: dict = {}
        self._calendars: dict = {}
        self._span: _Span | None = None
        self._shapes = chunk.shapes
        self._lead_defaults = _defaults(Lead)

    @cached_property
    def _first_material(self):
        return self.chunk.campaign.materials.order_by("pk").first()

    def first_material(self):
        return self._first_material

    @cached_property
    def material_label(self) -> str:
        """str(material) ("" without one), as the timeline shows it: rendered once, not per lead."""
        material = self.first_material()
        return str(material) if material else ""

    def add(self, row: ParsedRow) -> _NewLead:
        """Build the lead as lead_receive does (channel, material, identity, routing)."""
        campaign = self.chunk.campaign
        values = {**self._lead_defaults, **row.data, "campaign_id": campaign.pk, "source": "import"}
        values["channel"] = values["channel"] or campaign.channel
        if values["requests_material"] and values.get("requested_material_id") is None:
            material = self.first_material()
            values["requested_material_id"] = material.pk if material else None
        values.update(lawful_basis_record(values, source=Source.IMPORT))
        values["dedup_key"] = dedup_key(
            email=values["email"],
            phone=values["phone"],
            company=values["company"],
            name=values["contact_name"],
        )
        new = _NewLead(row.line, values)
        new.team = self.router.team_for(
            channel=values["channel"], country=values["country"], postcode=values["postcode"]
        )
        new.owner = self.router.rep_for(new.team, self.chunk.instant(row.line))
        values["team_id"] = new.team.pk if new.team else None
        values["owner_id"] = new.owner.pk if new.owner else None
        self.leads.append(new)
        return new

    def _policy(self, values: dict):
        from followups.services import sla_policy_for

        key = (values["campaign_id"], values["channel"])
        if key not in self._policies:
            self._policies[key] = sla_policy_for(
                lead=Lead(campaign=self.chunk.campaign, channel=values["channel"])
            )
        return self._policies[key]

    def _followup_shape(self, new: _NewLead, policy) -> list[dict]:
        from followups.models import FollowUp
        from followups.services import calendar_for, initial_followups

        values = new.values
        material = self.first_material() if values["requested_material_id"] else None
        key = (
            values["received_at"],
            values["requests_material"],
            values["requested_material_id"],
            material.is_printed if material else None,
            values["wants_call"],
            values["channel"],
            new.team.pk if new.team else None,
            policy.pk,
            policy.updated_at,
        )
        shape = self._shapes.get(key)
        if shape is None:
            lead = Lead(
                **{k: v for k, v in values.items() if k != "requested_material_id"},
                requested_material=material,
            )
            lead.team = new.team
            skip = {"id", "lead_id", "assignee_id", "created_at", "updated_at"}
            shape = [
                {
                    f.attname: _plain(getattr(followup, f.attname))
                    for f in FollowUp._meta.concrete_fields
                    if f.attname not in skip
                }
                for followup in initial_followups(
                    lead=lead, policy=policy, calendar=calendar_for(team=new.team)
                )
            ]
            self._shapes[key] = shape
        return shape

    def flush(self, outcome: Outcome) -> None:
        """Leads, their follow-ups and timeline rows, as lead_receive writes them one by one."""
        from followups.models import FollowUp
        from integrations.models import Event
        from integrations.services import webhook_deliveries_for_leads

        if not self.leads:
            return
        chunk = self.chunk
        written = timezone.now()  # created_at/updated_at, as auto_now would set them
        policies = [self._policy(new.values) for new in self.leads]
        autosend = self._autosend_material()
        lines = [new.line for new in self.leads]
        self._span = _Span(chunk.instant(min(lines)), chunk.instant(max(lines)), chunk.minutes)
        for new, policy in zip(self.leads, policies, strict=True):
            new.values["created_at"] = new.values["updated_at"] = written
            if autosend:
                self._material_sent(new, policy)
        pks = _insert(Lead, [new.values for new in self.leads])
        for new, pk in zip(self.leads, pks, strict=True):
            new.pk = pk
        self.router.written(pks)
        followup_defaults = _defaults(FollowUp)
        followup_rows = []
        booked = {}  # lead pk → the call-back its dispatched material booked
        for new, policy in zip(self.leads, policies, strict=True):
            new.followups = [
                {
                    **followup_defaults,
                    **shape,
                    "lead_id": new.pk,
                    "assignee_id": new.values["owner_id"],
                    "created_at": written,
                    "updated_at": written,
                }
                for shape in self._followup_shape(new, policy)
            ]
            followup_rows.extend(new.followups)
            if new.sent_at is not None:
                callback = self._dispatch(new, policy, followup_defaults, written)
                if callback is not None:
                    booked[new.pk] = callback
                    followup_rows.append(callback)
        _insert(FollowUp, followup_rows)
        event_defaults = {**_defaults(LeadEvent), "created_at": written}
        campaign_name = chunk.campaign.name if chunk.campaign else None
        actor_id = chunk.actor.pk if chunk.actor else None
        # The timeline's payloads repeat (per chunk, per rep, per follow-up deadline):
        # each is serialised once.
        received_data = JsonText({"source": "import", "campaign": campaign_name})
        assigned_data: dict = {}
        created_data: dict = {}
        events = []
        for new, policy in zip(self.leads, policies, strict=True):
            events.append(
                {
                    **event_defaults,
                    "lead_id": new.pk,
                    "kind": "received",
                    "actor_id": actor_id,
                    "at": new.values["received_at"],
                    "data": received_data,
                }
            )
            if new.owner is not None:
                key = (new.owner.id, new.team.id)
                if key not in assigned_data:
                    assigned_data[key] = JsonText(
                        {
                            "to": new.owner.id,
                            "to_name": str(new.owner),
                            "team": str(new.team),
                            "by": "routing",
                        }
                    )
                events.append(
                    {
                        **event_defaults,
                        "lead_id": new.pk,
                        "kind": "assigned",
                        "actor_id": actor_id,
                        "at": chunk.instant(new.line),
                        "data": assigned_data[key],
                    }
                )
            for f in new.followups:
                key = (f["kind"], f["due_at"], policy.name)
                if key not in created_data:
                    created_data[key] = JsonText(
                        {
                            "kind": f["kind"],
                            "due_at": f["due_at"].isoformat(),
                            "policy": policy.name,
                        }
                    )
                events.append(
                    {
                        **event_defaults,
                        "lead_id": new.pk,
                        "followup_id": f["id"],
                        "kind": "followup_created",
                        "at": new.values["received_at"],
                        "data": created_data[key],
                    }
                )
            if new.sent_at is not None:
                events.extend(self._dispatch_events(new, booked.get(new.pk), event_defaults))
        _insert(LeadEvent, events, pks=False)
        self._outbox([new for new in self.leads if new.sent_at is not None])
        # lead_receive queues the lead.created webhook per lead; here one set-based call
        # for the batch (occurred_at: the chunk's now, not each row's microsecond instant).
        webhook_deliveries_for_leads(event=Event.LEAD_CREATED, lead_ids=pks, now=chunk.now)
        self.router.save()
        outcome.created += len(self.leads)
        self.leads = []

    # -- digital material at intake: campaigns.services.material_autosend, in bulk ---------
    # material_autosend → followups.services.material_dispatch for each lead, as rows:
    # the send-material follow-up closed as emailed, the handoff milestone on the lead,
    # the call-back counted from the dispatch (unless a web call request is open
    # already), the MATERIAL_SENT and FOLLOWUP_CREATED timeline rows and the outbox
    # row the worker sends. tests/leads/test_import_equivalence.py holds it to them.

    def _autosend_material(self) -> bool:
        material = self.first_material()
        return material is not None and not material.is_printed

    def _open_material(self, rows: list[dict]) -> dict | None:
        from followups.models import FollowUp

        return next(
            (r for r in rows if r["kind"] == FollowUp.Kind.MATERIAL and r["completed_at"] is None),
            None,
        )

    def _material_sent(self, new: _NewLead, policy) -> None:
        """Before the lead is written: is it emailed now, and its milestone if so."""
        values = new.values
        if not (values["requests_material"] and values["email"] and values["consent_at"]):
            return
        material = self._open_material(self._followup_shape(new, policy))
        if material is None:
            return
        at = self.chunk.instant(new.line)
        minutes = self._span.minutes(self._calendar(new.team), values["received_at"], at)
        new.sent_at = at
        values["material_sent_at"] = at
        values["material_minutes"] = max(minutes, 0)
        values["material_on_time"] = at <= material["overdue_at"]

    def _calendar(self, team):
        from followups.services import calendar_for

        key = team.pk if team else None
        if key not in self._calendars:
            self._calendars[key] = calendar_for(team=team)
        return self._calendars[key]

    def _dispatch(self, new: _NewLead, policy, defaults: dict, written: datetime) -> dict | None:
        """Close the send-material follow-up as emailed; the call-back it books, if any."""
        from followups.models import FollowUp
        from followups.services import followup_build

        at = new.sent_at
        material = self._open_material(new.followups)
        material.update(
            completed_at=at, completed_by_id=None, outcome="emailed", note="", updated_at=at
        )
        if any(
            r["kind"] == FollowUp.Kind.CALLBACK and r["completed_at"] is None for r in new.followups
        ):
            return None  # the web call request: one open call-back at a time
        calendar = self._calendar(new.team)
        skip = {"id", "lead_id", "assignee_id", "created_at", "updated_at"}

        def build(starts_at: datetime) -> dict:
            callback = followup_build(
                lead=Lead(team=new.team),
                kind=FollowUp.Kind.CALLBACK,
                rule="callback_after_digital",
                policy=policy,
                starts_at=starts_at,
                calendar=calendar,
            )
            return {
                f.attname: _plain(getattr(callback, f.attname))
                for f in FollowUp._meta.concrete_fields
                if f.attname not in skip
            }

        return {
            **defaults,
            **self._span.shape(calendar, (calendar, policy.pk, policy.updated_at), at, build),
            "lead_id": new.pk,
            "assignee_id": new.values["owner_id"],
            "created_at": written,
            "updated_at": written,
        }

    def _dispatch_events(self, new: _NewLead, callback: dict | None, defaults: dict) -> list:
        from followups.models import FollowUp

        sent = next(r for r in new.followups if r["kind"] == FollowUp.Kind.MATERIAL)
        events = [
            {
                **defaults,
                "lead_id": new.pk,
                "followup_id": sent["id"],
                "kind": "material_sent",
                "actor_id": None,
                "at": new.sent_at,
                "data": {"postal": False, "material": self.material_label},
            }
        ]
        if callback is not None:
            events.append(
                {
                    **defaults,
                    "lead_id": new.pk,
                    "followup_id": callback["id"],
                    "kind": "followup_created",
                    "actor_id": None,
                    "at": new.sent_at,
                    "data": {"kind": callback["kind"], "due_at": callback["due_at"].isoformat()},
                }
            )
        return events

    def _outbox(self, sent: list[_NewLead]) -> None:
        """The emails, for the worker to send (campaigns.services.material_emails_send)."""
        from campaigns.models import MaterialEmail
        from followups.models import FollowUp

        if not sent:
            return
        defaults = _defaults(MaterialEmail)
        material = self.first_material()
        _insert(
            MaterialEmail,
            [
                {
                    **defaults,
                    "lead_id": new.pk,
                    "followup_id": next(
                        r["id"] for r in new.followups if r["kind"] == FollowUp.Kind.MATERIAL
                    ),
                    "material_id": material.pk,
                    "to": new.values["email"],
                    "created_at": new.sent_at,
                }
                for new in sent
            ],
        )


# --- the job -----------------------------------------------------------------------------


def file_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Preview:
    header: list[str]
    rows: list[list[str]]
    total: int


def import_preview(*, job: ImportJob) -> Preview:
    with job.file.open("rb") as handle:
        table = table_open(data=handle.read())
    rows = [[_text(c) for c in cells] for _line, cells in islice(table.rows, PREVIEW_ROWS)]
    return Preview(header=table.header, rows=rows, total=job.total)


class AlreadyImported(ImportFileError):
    def __init__(self, message, job: ImportJob):
        super().__init__(message)
        self.job = job


@transaction.atomic
def import_start(*, campaign, name: str, data: bytes, by: User | None, now: datetime) -> ImportJob:
    """Store an uploaded file and read its header for the mapping preview.

    Raises ImportFileError with a message for the uploader when the file cannot
    be imported at all (empty, too big, binary, not a table, already imported).
    """
    if not data:
        raise ImportFileError(_("The file is empty."))
    if len(data) > MAX_BYTES:
        raise ImportFileError(
            _("The file has %(size).1f MB; the limit is %(limit)d MB. Split it into smaller files.")
            % {"size": len(data) / 1024 / 1024, "limit": MAX_BYTES // 1024 // 1024}
        )
    digest = file_hash(data)
    earlier = (
        ImportJob.objects.filter(campaign=campaign, file_hash=digest)
        .exclude(status__in=[ImportJob.Status.MAPPING, ImportJob.Status.FAILED])
        .first()
    )
    if earlier is not None:
        raise AlreadyImported(
            _("This file was imported into this campaign already (%(date)s, %(n)d leads created).")
            % {
                "date": timezone.localtime(earlier.created_at).strftime("%d.%m.%Y %H:%M"),
                "n": earlier.created_count,
            },
            earlier,
        )
    table = table_open(data=data)
    total = 0
    try:
        for _row in table.rows:
            total += 1
            if total > MAX_ROWS:
                raise ImportFileError(
                    _("The file has more than %(max)d rows. Split it into smaller files.")
                    % {"max": MAX_ROWS}
                )
    except csv.Error as exc:
        raise ImportFileError(
            _("The file cannot be read as CSV: %(error)s") % {"error": exc}
        ) from None
    if total == 0:
        raise ImportFileError(_("The file has a header row but no data rows."))
    if len(table.header) < 2:
        raise ImportFileError(
            _(
                "Only one column was found. Is this a list with one column per field "
                "(CSV with ; or , or XLSX)?"
            )
        )
    safe_name = get_valid_filename(name.rsplit("/", 1)[-1])[:100] or "import.csv"
    job = ImportJob(
        campaign=campaign,
        file_name=name[:255],
        file_hash=digest,
        file_format=table.file_format,
        encoding=table.encoding,
        delimiter=table.delimiter,
        header=table.header,
        mapping=mapping_guess(table.header),
        total=total,
        created_by=by,
        # Unticked: whoever imports says so when every row really asked for the material.
        material_all=False,
    )
    job.file.save(f"{digest[:12]}-{safe_name}", ContentFile(data), save=False)
    job.save()
    return job


@transaction.atomic
def import_configure(
    *,
    job: ImportJob,
    mapping: dict[str, int],
    received_on: date | None,
    on_duplicate: str,
    consent_all: bool,
    material_all: bool,
    lawful_basis: str,
) -> ImportJob:
    """Take the column mapping and options (the lawful basis for the whole file among
    them) and queue the import."""
    from .tasks import import_run_task

    problems = mapping_problems(
        mapping=mapping, received_on=received_on, lawful_basis=lawful_basis, consent_all=consent_all
    )
    if problems:
        raise ValueError(" ".join(problems))
    if any(not 0 <= int(i) < len(job.header) for i in mapping.values()):
        raise ValueError("mapping points at a column the file does not have")
    updated = ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.MAPPING).update(
        mapping={k: int(v) for k, v in mapping.items()},
        received_on=received_on,
        on_duplicate=on_duplicate,
        consent_all=consent_all,
        material_all=material_all,
        lawful_basis=lawful_basis,
        status=ImportJob.Status.QUEUED,
    )
    if updated != 1:
        raise ValueError("this import was started already")
    job.refresh_from_db()
    transaction.on_commit(lambda: import_run_task.delay(job.pk))
    return job


def _gives_printed_material(campaign) -> bool:
    """Rows asking for material get the campaign's first (as lead_receive gives it)."""
    first = campaign.materials.order_by("pk").first()
    return first is not None and first.is_printed


def import_run(
    *, job_id: int, clock: Callable[[], datetime] = timezone.now, chunk_size: int | None = None
) -> ImportJob:
    """Import a queued job's rows, chunk by chunk; resumes after the rows already done.

    Steps:
    1. claim the job (queued/running → running); a finished job is left alone;
    2. read the file, skip the `done` rows a previous run committed;
    3. per chunk, in one transaction: validate the rows, write the valid ones in
       bulk (row by row if that fails), store the issues, move the counters;
    4. mark the job done, or failed with a message when the file breaks off.
    """
    job = ImportJob.objects.select_related("campaign", "campaign__team", "created_by").get(
        pk=job_id
    )
    if job.status not in {ImportJob.Status.QUEUED, ImportJob.Status.RUNNING}:
        return job
    started = clock()
    if job.lawful_basis not in LawfulBasis.values:
        # Queued before a basis was asked for: nothing is imported without one.
        _fail(job, line=1, error=gettext("No lawful basis was chosen for this file."), now=started)
        job.refresh_from_db()
        return job
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.RUNNING, started_at=job.started_at or started
    )
    # Rows that consented agreed to the campaign's text; the form's default language
    # is the one the import records (the file does not say which was shown).
    language = settings.LANGUAGE_CODE
    options = ImportOptions(
        mapping=job.mapping,
        received_on=job.received_on,
        consent_all=job.consent_all,
        material_all=job.material_all,
        material_printed=_gives_printed_material(job.campaign),
        consent_text=job.campaign.consent_text_for(language),
        consent_language=language,
        lawful_basis=job.lawful_basis,
    )
    error: str | None = None
    last_line = 0
    try:
        with job.file.open("rb") as handle:
            table = table_open(data=handle.read())
    except (ImportFileError, OSError) as exc:
        _fail(job, line=1, error=str(exc), now=clock())
        job.refresh_from_db()
        return job
    width = len(table.header)
    chunk_size = chunk_size or CHUNK_SIZE
    shared: dict = {}  # follow-up shapes and the router, across chunks

    def batches() -> Iterator[list[tuple[int, list]]]:
        nonlocal error
        batch: list[tuple[int, list]] = []
        try:
            for item in islice(table.rows, job.done, None):
                batch.append(item)
                if len(batch) >= chunk_size:
                    yield batch
                    batch = []
        except (csv.Error, ImportFileError) as exc:  # it breaks off (an unterminated quote, …)
            error = str(exc)
        if batch:
            yield batch

    def parse(batch: list[tuple[int, list]], now: datetime) -> list[ParsedRow]:
        parser = RowParser(options=options, now=now)
        return [parser.parse(line, cells, header_width=width) for line, cells in batch]

    # Hundreds of thousands of short-lived dicts set off the cyclic garbage collector
    # again and again, to find nothing: it waits until the import is through (plain
    # reference counting still frees everything as it goes).
    collecting = gc.isenabled()
    gc.disable()
    try:
        # The next chunk is checked (pure Python, no database) in a helper thread
        # while this one is written: psycopg lets go of the GIL while PostgreSQL works.
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="import-parse") as pool:
            waiting = None
            for batch in batches():
                now = clock()
                parsed = pool.submit(parse, batch, now)
                if waiting is not None:
                    last_line = _commit_chunk(
                        job, waiting[0].result(), now=waiting[1], shared=shared
                    )
                waiting = (parsed, now)
            if waiting is not None:
                last_line = _commit_chunk(job, waiting[0].result(), now=waiting[1], shared=shared)
    finally:
        if collecting:
            gc.enable()
    if error is not None:
        _fail(job, line=last_line + 1, error=error, now=clock())
    else:
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.DONE, finished_at=clock()
        )
    job.refresh_from_db()
    return job


def _commit_chunk(job: ImportJob, rows: list[ParsedRow], *, now: datetime, shared: dict) -> int:
    """Write one checked chunk with the job's counters, in one transaction.

    Returns the chunk's last row number."""
    chunk = _Chunk(
        campaign=job.campaign,
        actor=job.created_by,
        on_duplicate=job.on_duplicate,
        now=now,
        shared=shared,
    )
    with transaction.atomic():
        if connection.vendor == "postgresql":
            # No wait for the WAL flush at each chunk's commit. Safe here: the counters
            # commit with the rows, so a crash loses the last chunks whole and the task
            # resumes before them.
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        _refuse_erased(rows)
        try:
            with transaction.atomic():
                outcome = chunk.run_batched(rows, job)
        except (IntegrityError, DataError):
            # Someone stored a lead with one of these external IDs meanwhile, or a value
            # the checks let through: the bulk write is rolled back, redo it row by row.
            # The router counted leads that are gone now: the next chunk reads afresh.
            shared.pop("router", None)
            outcome = chunk.run_one_by_one(rows, job)
        for issue in outcome.issues:
            if issue.lead_id is None and getattr(issue, "_pending_lead", None) is not None:
                issue.lead_id = issue._pending_lead.pk
        ImportIssue.objects.bulk_create(outcome.issues, batch_size=1000)
        ImportJob.objects.filter(pk=job.pk).update(
            done=F("done") + len(rows),
            created_count=F("created_count") + outcome.created,
            duplicate_count=F("duplicate_count") + outcome.duplicates,
            failed=F("failed") + outcome.failed,
        )
    return rows[-1].line


def _refuse_erased(rows: list[ParsedRow]) -> None:
    """Rows naming an erased person become errors (one lookup for the chunk); the error
    report keeps their row number, not their cells."""
    from .services import erased_among

    erased = erased_among(row.data["email"] for row in rows if not row.errors)
    for row in rows:
        if not row.errors and row.data["email"] in erased:
            row.errors = [_reason("erased", "email")]
            row.data, row.values = None, []


def _fail(job: ImportJob, *, line: int, error: str, now: datetime) -> None:
    """The file broke off: keep what was committed, report the rest as one issue."""
    with transaction.atomic():
        done = ImportJob.objects.get(pk=job.pk).done
        ImportIssue.objects.create(
            job=job,
            line=line,
            kind=ImportIssue.Kind.ERROR,
            reasons=[_reason("unreadable", error=error[:200])],
        )
        ImportJob.objects.filter(pk=job.pk).update(
            status=ImportJob.Status.FAILED,
            finished_at=now,
            message=error[:1000],
            failed=F("failed") + max(1, job.total - done),
        )


def issue_text(issue: ImportIssue) -> str:
    """Why a row did not become a new lead, in the reader's language (page and report)."""
    return "; ".join(
        reason_text({**r, "params": {**(r.get("params") or {}), "lead": issue.lead_id or "?"}})
        for r in issue.reasons
    )


def issue_report_rows(*, job: ImportJob) -> Iterator[list]:
    """The error report: one line per row that did not become a new lead."""
    for issue in job.issues.order_by("line", "pk").iterator(chunk_size=2000):
        yield [issue.line, issue.get_kind_display(), issue_text(issue), *issue.values]


def parse_rows(
    *, data: bytes, options: ImportOptions, now: datetime
) -> tuple[Table, list[ParsedRow]]:
    """Every data row of a file, parsed (tests and the benchmark use it)."""
    table = table_open(data=data)
    parser = RowParser(options=options, now=now)
    width = len(table.header)
    return table, [parser.parse(line, cells, header_width=width) for line, cells in table.rows]
