"""Lead import jobs: a CSV/XLSX file from upload to leads, chunk by chunk.

Flow: `import_start` stores the upload and reads its header (the mapping
preview), `import_configure` takes the column mapping and queues the job, the
Celery task calls `import_run`, which imports in chunks of CHUNK_SIZE rows.

Every row ends up either as a lead or as an ImportIssue (the error report):
rows are checked first (leads/import_files.py); a bad row is reported with its
row number and reasons and never touches the database. The valid rows of a
chunk go through the intake pipeline (leads.intake) as one batch; the chunk
commits together with the job's counters, so the progress bar shows committed
rows only and a restarted task resumes after the last committed chunk.
"""

from __future__ import annotations

import csv
import gc
import hashlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime
from itertools import islice

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import DataError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.text import get_valid_filename
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from accounts.models import User

from .import_files import (
    CHUNK_SIZE,
    MAX_BYTES,
    MAX_ROWS,
    PREVIEW_ROWS,
    ImportFileError,
    ImportOptions,
    ParsedRow,
    RowParser,
    cell_text,
    mapping_guess,
    mapping_problems,
    reason,
    reason_text,
    table_open,
)
from .intake import OnDuplicate, Received, Status, leads_receive
from .models import ImportIssue, ImportJob, LawfulBasis, Source


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
    rows = [[cell_text(c) for c in cells] for _line, cells in islice(table.rows, PREVIEW_ROWS)]
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
                "date": date_format(
                    timezone.localtime(earlier.created_at), "SHORT_DATETIME_FORMAT"
                ),
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
                    last_line = _commit_chunk(job, waiting[0].result(), now=waiting[1])
                waiting = (parsed, now)
            if waiting is not None:
                last_line = _commit_chunk(job, waiting[0].result(), now=waiting[1])
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


def _commit_chunk(job: ImportJob, rows: list[ParsedRow], *, now: datetime) -> int:
    """Write one checked chunk through the intake pipeline with the job's counters, in one
    transaction. Returns the chunk's last row number."""
    valid = [row for row in rows if not row.errors]
    with transaction.atomic():
        try:
            received = _receive(job, valid, now=now)
        except DataError:
            # A value the checks let through: the chunk again row by row, so only the
            # rows PostgreSQL refuses are reported (each in its own savepoint).
            received = []
            for row in valid:
                try:
                    received += _receive(job, [row], now=now)
                except DataError as exc:
                    row.errors = [reason("save_failed", error=str(exc)[:200])]
                    received.append(None)
        outcome = _Outcome(job)
        results = iter(received)
        for row in rows:
            outcome.add(row, None if row.errors else next(results))
        ImportIssue.objects.bulk_create(outcome.issues, batch_size=1000)
        ImportJob.objects.filter(pk=job.pk).update(
            done=F("done") + len(rows),
            created_count=F("created_count") + outcome.created,
            duplicate_count=F("duplicate_count") + outcome.duplicates,
            failed=F("failed") + outcome.failed,
        )
    return rows[-1].line


def _receive(job: ImportJob, rows: list[ParsedRow], *, now: datetime) -> list[Received]:
    with transaction.atomic():
        return leads_receive(
            items=[{**row.data, "campaign": job.campaign} for row in rows],
            source=Source.IMPORT,
            now=now,
            actor=job.created_by,
            on_duplicate=OnDuplicate.MERGE if job.on_duplicate == "merge" else OnDuplicate.SKIP,
        )


_DUP_CODE = {"e": "dup_email", "p": "dup_phone", "n": "dup_name"}
_ISSUE_KIND = {
    Status.EXISTING: ImportIssue.Kind.EXISTING,
    Status.DUPLICATE: ImportIssue.Kind.SKIPPED,
    Status.MERGED: ImportIssue.Kind.MERGED,
}


class _Outcome:
    """A chunk's counters and issue rows (the error report), row by row."""

    def __init__(self, job: ImportJob):
        self.job = job
        self.created = self.duplicates = self.failed = 0
        self.issues: list[ImportIssue] = []

    def add(self, row: ParsedRow, result: Received | None) -> None:
        if result is not None and result.status == Status.ERASED:
            # An erased person: the report keeps the row number, not the cells.
            row.errors, row.values = [reason("erased", "email")], []
            result = None
        if result is None:
            self.failed += 1
            self.issues.append(
                ImportIssue(
                    job=self.job,
                    line=row.line,
                    kind=ImportIssue.Kind.ERROR,
                    reasons=row.errors,
                    values=row.values,
                )
            )
        elif result.created:
            self.created += 1
        else:
            self.duplicates += 1
            code = "dup_external_id" if result.status == Status.EXISTING else _DUP_CODE[row.key[0]]
            self.issues.append(
                ImportIssue(
                    job=self.job,
                    line=row.line,
                    kind=_ISSUE_KIND[result.status],
                    reasons=[reason(code)],
                    values=row.values,
                    lead=result.lead,
                )
            )


def _fail(job: ImportJob, *, line: int, error: str, now: datetime) -> None:
    """The file broke off: keep what was committed, report the rest as one issue."""
    with transaction.atomic():
        done = ImportJob.objects.get(pk=job.pk).done
        ImportIssue.objects.create(
            job=job,
            line=line,
            kind=ImportIssue.Kind.ERROR,
            reasons=[reason("unreadable", error=error[:200])],
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
