"""Property: whatever the rows hold, every row of a CSV is either imported or reported.

Rows are generated with valid and broken names, emails, phones, dates and
consent flags, with delimiters, quotes and line breaks inside fields, written
with any delimiter in UTF-8, UTF-8 with BOM, cp1252 or UTF-16. Each row carries
its own ID so the leads and the report rows can be traced back to it.
"""

import csv
import io
import uuid

import pytest
from django.utils import timezone, translation
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from followups.models import FollowUp
from leads.import_files import ImportFileError
from leads.imports import import_configure, import_run, import_start
from leads.models import ImportIssue, Lead, LeadEvent

from ..factories import CampaignFactory

CHARS = st.sampled_from(list("abcxyzABCÄÖÜäöüßé 0123456789;,|\t\"'\n\r=+-@._()/"))
TEXT = st.text(CHARS, max_size=25)
EMAILS = st.one_of(
    st.just(""),
    st.builds(
        lambda local, domain: f"{local}@{domain}.example",
        st.from_regex(r"[a-z0-9.]{1,12}", fullmatch=True),
        st.from_regex(r"[a-z]{1,8}", fullmatch=True),
    ),
    TEXT,
)
PHONES = st.one_of(st.just(""), st.from_regex(r"\+?[0-9 /()-]{4,20}", fullmatch=True), TEXT)
DATES = st.one_of(
    st.just(""),
    st.dates(
        min_value=timezone.datetime(1990, 1, 1).date(),
        max_value=timezone.datetime(2030, 12, 31).date(),
    ).map(lambda d: d.strftime("%d.%m.%Y")),
    st.datetimes(
        min_value=timezone.datetime(2020, 1, 1), max_value=timezone.datetime(2026, 12, 31)
    ).map(lambda d: d.strftime("%Y-%m-%d %H:%M")),
    TEXT,
)
FLAGS = st.sampled_from(["", "ja", "nein", "x", "1", "0", "vielleicht"])
ROW = st.tuples(TEXT, EMAILS, PHONES, DATES, FLAGS)
HEADER = ["ID", "Name", "E-Mail", "Telefon", "Datum", "Einwilligung"]
MAPPING = {
    "external_id": 0,
    "contact_name": 1,
    "email": 2,
    "phone": 3,
    "received_at": 4,
    "consent": 5,
}


@pytest.fixture(autouse=True)
def english():
    """Messages are asserted in English (the German catalogue may be compiled)."""
    with translation.override("en"):
        yield


def _encode(text: str, encoding: str) -> bytes:
    if encoding == "cp1252":
        try:
            return text.encode("cp1252")
        except UnicodeEncodeError:
            return text.encode("utf-8")
    return text.encode(encoding)


@pytest.fixture
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path


@pytest.mark.django_db
@hypothesis_settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    rows=st.lists(ROW, min_size=1, max_size=12),
    delimiter=st.sampled_from([";", ",", "\t", "|"]),
    encoding=st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]),
    repeat=st.booleans(),
    chunk_size=st.sampled_from([1, 3, 2000]),
)
def test_every_row_is_either_imported_or_reported(
    media, rows, delimiter, encoding, repeat, chunk_size
):
    run = uuid.uuid4().hex[:8]  # identities are global: keep examples apart
    rows = [
        (name, email.replace("@", f"+{run}@", 1) if "@" in email else email, phone, date, flag)
        for name, email, phone, date, flag in rows
    ]
    if repeat:
        rows = rows + rows[:2]  # the same people twice in one file
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(HEADER)
    ids = []
    for index, row in enumerate(rows):
        row_id = f"{run}-{index}"
        ids.append(row_id)
        writer.writerow([row_id, *row])
    data = _encode(buffer.getvalue(), encoding)
    campaign = CampaignFactory()
    now = timezone.now()

    try:
        job = import_start(campaign=campaign, name="rows.csv", data=data, by=None, now=now)
    except ImportFileError:
        pytest.fail("a well-formed CSV must be accepted")
    job = import_configure(
        job=job,
        mapping=MAPPING,
        received_on=None,
        on_duplicate="skip",
        consent_all=False,
        material_all=False,
        lawful_basis="contract",
    )
    job = import_run(job_id=job.pk, chunk_size=chunk_size)

    assert job.status == "done"
    assert job.total == len(rows)  # every row has its ID: none is blank
    assert job.created_count + job.duplicate_count + job.failed == job.total == job.done
    imported = set(Lead.objects.filter(campaign=campaign).values_list("external_id", flat=True))
    issues = list(ImportIssue.objects.filter(job=job))
    reported = [issue.values[0] for issue in issues]
    assert len(reported) == len(set(reported)) == job.duplicate_count + job.failed
    assert imported.isdisjoint(reported)
    assert imported | set(reported) == set(ids)
    assert len(imported) == job.created_count
    # no half rows: every lead has its follow-ups and its timeline
    leads = Lead.objects.filter(campaign=campaign)
    assert FollowUp.objects.filter(lead__in=leads).count() == 2 * len(imported)
    assert LeadEvent.objects.filter(lead__in=leads, kind=LeadEvent.Kind.RECEIVED).count() == len(
        imported
    )
    for issue in issues:
        assert issue.reasons and issue.line >= 2


# --- the business minutes a chunk shares between its rows --------------------------------

_MONDAY_8 = timezone.datetime(2026, 11, 23, 7, 0, tzinfo=timezone.UTC)  # 08:00 in Berlin
_INSTANTS = st.integers(min_value=0, max_value=4 * 60 * 60 * 10**6).map(
    lambda us: _MONDAY_8 + timezone.timedelta(microseconds=us)
)


@given(starts=st.lists(_INSTANTS, min_size=1, max_size=20), data=st.data())
@hypothesis_settings(max_examples=150, deadline=None)
def test_the_calendars_remembered_deadlines_equal_fresh_computations(starts, data):
    """BusinessCalendar keeps add() and subtract() answers per (instant, duration) for the
    intake's batches: asked again, in any order, it answers what a fresh calendar does."""
    from leadbridge.calendar import BusinessCalendar

    kept = BusinessCalendar.for_region("DE-BY")
    durations = ["30m", "4h", "1d", "2d", "90m", "0"]
    for start in starts + starts[::-1]:
        duration = data.draw(st.sampled_from(durations))
        fresh = BusinessCalendar("DE-BY")
        assert kept.add(start, duration) == fresh.add(start, duration)
        assert kept.subtract(start, duration) == fresh.subtract(start, duration)
