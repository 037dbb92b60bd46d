"""A person's data on request (export), erasure everywhere it ended up, and retention.

Where a person's data lives (every place export shows and erasure anonymises):
the lead's own fields; its timeline (LeadEvent.data: notes, call notes, reasons);
follow-up notes; escalation data; notifications about it (texts are rendered from
the lead when shown, so anonymising the lead anonymises them); the material
outbox (MaterialEmail.to and its error); webhook bodies (WebhookDelivery.payload,
the lead as it was); stored API answers (IdempotencyKey.response_body); import
report rows (ImportIssue.values/reasons) and the uploaded files themselves; the
admin's change log (LogEntry.object_repr). The dashboard rollup holds ids and
counts only: anonymising keeps every column it counts (stage, decision, times,
owner, team, campaign, channel), so its figures stay the same.
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.utils.crypto import salted_hmac

from accounts.models import User
from campaigns.models import MaterialEmail
from followups.models import Escalation, FollowUp, Notification
from integrations.models import Event, IdempotencyKey, WebhookDelivery
from integrations.services import webhook_deliveries_for_leads
from leads.import_files import ImportFileError, table_open
from leads.models import ImportIssue, ImportJob, Lead, LeadEvent, Stage

from .models import ErasedLead, ErasureLog, ExportLog, RetentionPolicy, Suppression, Trigger

# --- who the person is ---------------------------------------------------------------


def email_normalise(email: str) -> str:
    return (email or "").strip().lower()


def email_hash(email: str) -> str:
    """Salted HMAC-SHA256 of the normalised email: the suppression list and the logs keep
    this, never the address. The salt is LEADBRIDGE_PRIVACY_SALT, else the SECRET_KEY
    (then rotating SECRET_KEY forgets the suppression list: set the salt in production)."""
    return salted_hmac(
        "leadbridge.privacy.email",
        email_normalise(email),
        secret=settings.LEADBRIDGE_PRIVACY_SALT or settings.SECRET_KEY,
        algorithm="sha256",
    ).hexdigest()


def suppressed_emails(emails: Iterable[str]) -> set[str]:
    """The given emails whose person asked to be erased (one query for all of them).

    The intake pipeline (leads.intake) asks it once per batch, for every path.
    """
    by_hash: dict[str, set[str]] = {}
    for email in emails:
        if email and email.strip():
            by_hash.setdefault(email_hash(email), set()).add(email)
    if not by_hash:
        return set()
    found = Suppression.objects.filter(email_hash__in=list(by_hash)).values_list(
        "email_hash", flat=True
    )
    return {email for key in found for email in by_hash[key]}


def may_manage_privacy(user) -> bool:
    """Administrators (every lead) and team leads (their team's leads, Lead.visible_to)."""
    return bool(user.is_authenticated and (user.is_admin_role or user.is_manager))


@dataclass
class Person:
    """The leads that are this person (within what `by` may see) and how to recognise
    them in free text and copies: emails, names, phones, addresses."""

    email: str
    leads: list[Lead]
    hidden: int = 0  # leads with this email that `by` may not see (other teams)
    # A team lead's question reaches only their team's rows: places found by the
    # email's text (copies not linked to a lead) are searched within this team.
    # None: an administrator or retention, every team.
    team_id: int | None = None
    emails: set[str] = field(default_factory=set)
    idents: set[str] = field(default_factory=set)  # lower-case, for substring matches
    cells: set[str] = field(default_factory=set)  # whole values, for import file cells

    @property
    def lead_ids(self) -> list[int]:
        return [lead.pk for lead in self.leads]


_IDENT_FIELDS = ("contact_name", "email", "phone", "street", "company", "message")


def _digits(value: str) -> str:
    return re.sub(r"\D", "", value or "")


def person_find(*, email: str | None = None, lead: Lead | None = None, by: User | None) -> Person:
    """The person by email (every lead with it) or by one lead (and the others with its email).

    `by` None (retention) sees every lead; otherwise Lead.visible_to(by) applies and a
    lead outside it is Lead.DoesNotExist.
    """
    if by is not None and not may_manage_privacy(by):
        raise PermissionDenied
    leads = Lead.objects.all() if by is None else Lead.objects.visible_to(by)
    if lead is not None:
        lead = leads.get(pk=lead.pk)
        email = email or lead.email
    email = email_normalise(email or "")
    found = {lead.pk: lead} if lead is not None else {}
    hidden = 0
    if email:
        for match in leads.filter(email__iexact=email):
            found[match.pk] = match
        if by is not None:
            hidden = Lead.objects.filter(email__iexact=email).exclude(pk__in=list(found)).count()
    team_id = by.team_id if by is not None and not by.is_admin_role else None
    return _person(
        email, sorted(found.values(), key=lambda lead: lead.pk), hidden=hidden, team_id=team_id
    )


def _person(
    email: str, leads: list[Lead], *, hidden: int = 0, team_id: int | None = None
) -> Person:
    person = Person(email=email, leads=leads, hidden=hidden, team_id=team_id)
    values = [email] if email else []
    for lead in leads:
        values += [getattr(lead, name) for name in _IDENT_FIELDS]
        values.append(f"{lead.postcode} {lead.city}".strip())
        if lead.email:
            person.emails.add(email_normalise(lead.email))
        # Name parts too: a note says "Frau Bergmann", not the full name.
        person.idents.update(p.lower() for p in re.split(r"\s+", lead.contact_name) if len(p) >= 4)
        if len(_digits(lead.phone)) >= 6:
            person.cells.add(_digits(lead.phone))
        # Import cells: what names this person in a row (email, phone, full name); a
        # company, street or city alone is shared with others and must not match.
        if len(lead.contact_name.strip()) >= 3:
            person.cells.add(lead.contact_name.strip().lower())
    if email:
        person.emails.add(email)
    person.cells.update(person.emails)
    for value in values:
        value = (value or "").strip().lower()
        if len(value) >= 3:
            person.idents.add(value)
    return person


# --- where the person's data is ---------------------------------------------------------


def _lead_type() -> ContentType:
    return ContentType.objects.get_for_model(Lead)


def _places(person: Person) -> dict[str, QuerySet]:
    """Every row that holds (or may hold) this person's data, by place."""
    ids = person.lead_ids
    followups = FollowUp.objects.filter(lead_id__in=ids)
    texts = Q(pk__in=[])  # JSON columns whose rows are not linked to the lead
    for email in sorted(person.emails):
        texts |= Q(values__icontains=email)
    answers = Q(pk__in=[])
    for email in sorted(person.emails):
        answers |= Q(response_body__icontains=email)
    addressed = Q(to__in=sorted(person.emails))
    if person.team_id is not None:
        # Copies of another team's lead are not this team lead's to show or erase.
        texts &= Q(job__campaign__team_id=person.team_id)
        answers &= Q(user__team_id=person.team_id)
        addressed &= Q(lead__team_id=person.team_id)
    issue_filter = Q(lead_id__in=ids) | texts
    answer_filter = Q(lead_id__in=ids) | answers
    return {
        "leads": Lead.objects.filter(pk__in=ids).order_by("pk"),
        "timeline": LeadEvent.objects.filter(lead_id__in=ids).order_by("lead_id", "at", "pk"),
        "followups": followups.order_by("lead_id", "pk"),
        "escalations": Escalation.objects.filter(followup__lead_id__in=ids).order_by("pk"),
        "notifications": _notifications(ids, list(followups.values_list("pk", flat=True))),
        "material_emails": MaterialEmail.objects.filter(Q(lead_id__in=ids) | addressed).order_by(
            "pk"
        ),
        "webhook_deliveries": WebhookDelivery.objects.filter(
            Q(lead_id__in=ids) | Q(followup__lead_id__in=ids)
        ).order_by("pk"),
        "idempotency_keys": IdempotencyKey.objects.filter(answer_filter).order_by("pk"),
        "import_issues": ImportIssue.objects.filter(issue_filter).order_by("job_id", "line", "pk"),
        "admin_log": LogEntry.objects.filter(
            content_type=_lead_type(), object_id__in=[str(pk) for pk in ids]
        ).order_by("pk"),
    }


def _notifications(lead_ids: list[int], followup_ids: list[int]) -> QuerySet:
    """About one of the leads, or a batch notification whose follow-ups include theirs."""
    about = Q(lead_id__in=lead_ids) | Q(followup_id__in=followup_ids)
    if followup_ids and connection.vendor == "postgresql":
        for pk in followup_ids:
            about |= Q(followup_ids__contains=[pk])
    elif followup_ids:  # SQLite has no JSON containment: read the batches
        wanted = set(followup_ids)
        batches = Notification.objects.exclude(followup_ids=[]).values_list("pk", "followup_ids")
        about |= Q(pk__in=[pk for pk, ids in batches if wanted & set(ids or [])])
    return Notification.objects.filter(about).order_by("pk")


def _cell_matches(cell, person: Person) -> bool:
    text = str(cell if cell is not None else "").strip().lower()
    if not text:
        return False
    if text in person.cells:
        return True
    digits = _digits(text)
    return len(digits) >= 6 and digits in person.cells


def _import_files(person: Person) -> dict[int, list[tuple[int, list]]]:
    """{import job id: [(row, cells)]}: the rows of stored import files that name the person.

    Every stored file is read (imports are few, and files expire by retention); a cell
    matches when it is one of the person's emails, phones, names or addresses.
    """
    found: dict[int, list[tuple[int, list]]] = {}
    if not person.cells:
        return found
    jobs = ImportJob.objects.exclude(file="")
    if person.team_id is not None:
        jobs = jobs.filter(campaign__team_id=person.team_id)
    for job in jobs.order_by("pk"):
        try:
            with job.file.open("rb") as handle:
                table = table_open(data=handle.read())
            rows = [(table.header_line, list(table.header)), *table.rows]
            matches = [
                (line, cells)
                for line, cells in rows
                if any(_cell_matches(cell, person) for cell in cells)
            ]
        except (ImportFileError, OSError, ValueError):
            continue  # unreadable or gone: nothing to show, and erasure deletes by job below
        if matches:
            found[job.pk] = [
                (line, [str(c) if c is not None else "" for c in cells]) for line, cells in matches
            ]
    return found


# --- export ------------------------------------------------------------------------------

_LEAD_EXPORT_FIELDS = [
    f.name
    for f in Lead._meta.concrete_fields
    if f.name not in {"dedup_key", "material_minutes", "first_contact_minutes"}
]


def _plain(value):
    if isinstance(value, datetime):
        return value.isoformat()
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def person_export(
    *, email: str | None = None, lead: Lead | None = None, by: User, now: datetime, format: str
) -> dict:
    """Everything held about the person, JSON-ready; the export is logged (hashed subject)."""
    person = person_find(email=email, lead=lead, by=by)
    places = _places(person)
    leads_out = []
    for item in places["leads"]:
        row = {}
        for name in _LEAD_EXPORT_FIELDS:
            field_ = Lead._meta.get_field(name)
            row[name] = _plain(getattr(item, field_.attname))
        leads_out.append(row)
    export = {
        "subject": {"email": person.email or None, "leads": person.lead_ids},
        "generated_at": now.isoformat(),
        "other_teams_hold": person.hidden,
        "leads": leads_out,
        "timeline": [
            {"lead": e.lead_id, "at": _plain(e.at), "kind": e.kind, "data": e.data}
            for e in places["timeline"]
        ],
        "followups": [
            {
                "lead": f.lead_id,
                "id": f.pk,
                "kind": f.kind,
                "due_at": _plain(f.due_at),
                "completed_at": _plain(f.completed_at),
                "outcome": f.outcome,
                "note": f.note,
                "attempts": f.attempts,
            }
            for f in places["followups"]
        ],
        "escalations": [
            {"followup": s.followup_id, "level": s.level, "at": _plain(s.at), "data": s.data}
            for s in places["escalations"]
        ],
        "notifications": [
            {
                "id": n.pk,
                "recipient": n.recipient_id,
                "kind": n.kind,
                "lead": n.lead_id,
                "followup": n.followup_id,
                "text": str(n.subject_text()),
                "created_at": _plain(n.created_at),
            }
            for n in places["notifications"].select_related("followup", "lead")
        ],
        "material_emails": [
            {
                "lead": m.lead_id,
                "to": m.to,
                "material": m.material_id,
                "state": m.state,
                "created_at": _plain(m.created_at),
                "sent_at": _plain(m.sent_at),
                "error": m.error,
            }
            for m in places["material_emails"]
        ],
        "webhook_deliveries": [
            {
                "id": d.pk,
                "event": d.event,
                "subscription": d.subscription_id,
                "status": d.status,
                "occurred_at": _plain(d.occurred_at),
                "payload": d.payload,
            }
            for d in places["webhook_deliveries"]
        ],
        "api_answers": [
            {
                "key_id": k.pk,
                "lead": k.lead_id,
                "created_at": _plain(k.created_at),
                "response_body": k.response_body,
            }
            for k in places["idempotency_keys"]
        ],
        "import_issues": [
            {
                "job": i.job_id,
                "line": i.line,
                "kind": i.kind,
                "lead": i.lead_id,
                "values": i.values,
                "reasons": i.reasons,
            }
            for i in places["import_issues"]
        ],
        "import_files": [
            {
                "job": job_id,
                "file_name": ImportJob.objects.get(pk=job_id).file_name,
                "rows": [{"line": line, "cells": cells} for line, cells in rows],
            }
            for job_id, rows in _import_files(person).items()
        ],
        "admin_log": [
            {"at": _plain(e.action_time), "object": e.object_repr, "message": e.change_message}
            for e in places["admin_log"]
        ],
    }
    ExportLog.objects.create(
        at=now,
        by=by,
        format=format,
        subject_hash=email_hash(person.email) if person.email else "",
        lead_ids=person.lead_ids,
    )
    return export


# --- erasure -----------------------------------------------------------------------------

ERASED_NAME = "—"  # what the lists show for an anonymised lead's contact person
# Keys of JSON documents whose value is the person's data wherever they appear.
_PERSONAL_KEYS = frozenset(
    {
        "contact_name",
        "company",
        "email",
        "phone",
        "street",
        "postcode",
        "city",
        "message",
        "consent_text",
        "decision_note",
        "note",
        "value",  # import reasons quote the cell
        "to",
    }
)
_CODE = re.compile(r"[a-z_]{1,30}")


def _scrub(value, person: Person, key: str = ""):
    """The JSON value without the person: personal keys emptied, strings naming them blanked.

    "reason" stays when it is a code (no_budget), not when someone typed it; "to" only
    when it is text (a timeline's "to" is a user or stage id).
    """
    if isinstance(value, dict):
        return {k: _scrub(v, person, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_scrub(v, person, key) for v in value]
    if not isinstance(value, str) or not value:
        return value
    if key in _PERSONAL_KEYS and not (key == "to" and _CODE.fullmatch(value)):
        return ""
    if key == "reason" and not _CODE.fullmatch(value):
        return ""
    lowered = value.lower()
    if any(ident in lowered for ident in person.idents):
        return ""
    return value


def _scrub_rows(queryset: QuerySet, column: str, person: Person) -> int:
    changed = []
    for obj in queryset.only("pk", column):
        old = getattr(obj, column)
        new = _scrub(old, person)
        if new != old:
            setattr(obj, column, new)
            changed.append(obj)
    queryset.model.objects.bulk_update(changed, [column], batch_size=500)
    return len(changed)


class ErasureRefused(Exception):
    """Nothing names this person (no lead, no email)."""


def person_erase(
    *,
    email: str | None = None,
    lead: Lead | None = None,
    by: User | None,
    reason: str,
    now: datetime,
) -> ErasureLog:
    """Anonymise the person everywhere (see the module's docstring) and suppress their email.

    By email: every lead with it that `by` may see; by lead: that lead and the others
    with its email. The log keeps who, when, why, the lead ids and a count per place.
    """
    if not (reason or "").strip():
        raise ValueError("an erasure needs a reason")
    person = person_find(email=email, lead=lead, by=by)
    if not person.leads and (not person.email or person.team_id is not None):
        # A team lead erases their team's leads; an email alone is an administrator's.
        raise ErasureRefused
    with transaction.atomic():
        return _erase(person, by=by, reason=reason.strip(), now=now, trigger=Trigger.REQUEST)


def _erase(
    person: Person, *, by: User | None, reason: str, now: datetime, trigger: str
) -> ErasureLog:
    """Steps, in one transaction:
    1. the log row, and an ErasedLead per lead (unique: a lead is erased once);
    2. each place of _places: personal fields emptied, JSON scrubbed;
    3. import files naming the person deleted (see _files_delete);
    4. on request (not retention: that person never asked), a suppression entry per email;
    5. person.erased queued for webhook subscribers who may see the leads, so integrations
       drop their copies (the body shows the lead as erasure left it).
    """
    log = ErasureLog.objects.create(
        at=now,
        by=by,
        trigger=trigger,
        reason=reason[:2000],
        subject_hash=email_hash(person.email) if person.email else "",
        lead_ids=person.lead_ids,
    )
    ErasedLead.objects.bulk_create(
        [ErasedLead(lead=lead, log=log, erased_at=now) for lead in person.leads],
        ignore_conflicts=True,
    )
    places = _places(person)
    counts: dict[str, int] = {}
    ids = person.lead_ids
    # The lead keeps what the dashboards count (stage, decision, times, owner, team,
    # campaign, channel, country, region) and its external_id, the sender's record
    # number: a replay of that record finds the anonymised lead instead of making a
    # new one. dedup_key becomes unique so no later enquiry is matched to it.
    counts["leads"] = len(ids)
    for pk in ids:
        Lead.objects.filter(pk=pk).update(
            contact_name=ERASED_NAME,
            company="",
            email="",
            phone="",
            street="",
            postcode="",
            city="",
            message="",
            consent_text="",
            decision_note="",
            dedup_key=f"erased:{pk}",
            marketing_consent_text="",
            marketing_consent_requested_at=None,
            marketing_consent_confirmed_at=None,
        )
    counts["timeline"] = _scrub_rows(places["timeline"], "data", person)
    counts["followups"] = places["followups"].exclude(note="").update(note="", updated_at=now)
    counts["escalations"] = _scrub_rows(places["escalations"], "data", person)
    counts["notifications"] = places["notifications"].count()  # rendered from the lead
    outbox = places["material_emails"]
    counts["material_emails"] = outbox.count()
    # An email not sent yet is not sent to an address that is no longer there.
    outbox.filter(state__in=[MaterialEmail.State.PENDING, MaterialEmail.State.SENDING]).update(
        state=MaterialEmail.State.FAILED
    )
    outbox.update(to="", error="")
    counts["webhook_deliveries"] = _scrub_rows(
        places["webhook_deliveries"].exclude(payload=None), "payload", person
    )
    counts["idempotency_keys"] = _scrub_rows(
        places["idempotency_keys"].exclude(response_body=None), "response_body", person
    )
    issues = places["import_issues"]
    counts["import_issues"] = issues.count()
    for issue in issues:
        issue.values = []
        issue.reasons = _scrub(issue.reasons, person)
    ImportIssue.objects.bulk_update(issues, ["values", "reasons"], batch_size=500)
    counts["import_files"] = _files_delete(person, now=now)
    entries = list(places["admin_log"])
    for entry in entries:
        entry.object_repr = f"{ERASED_NAME} ({entry.object_id})"
        entry.change_message = ""
    LogEntry.objects.bulk_update(entries, ["object_repr", "change_message"])
    counts["admin_log"] = len(entries)
    # The suppression list is company-wide: a team lead's erasure adds to it only when
    # no other team holds the email (else an administrator answers for those).
    if person.emails and trigger == Trigger.REQUEST and not person.hidden:
        Suppression.objects.bulk_create(
            [Suppression(email_hash=email_hash(e), created_at=now) for e in sorted(person.emails)],
            ignore_conflicts=True,
        )
    webhook_deliveries_for_leads(event=Event.PERSON_ERASED, lead_ids=ids, now=now)
    log.counts = counts
    log.save(update_fields=["counts"])
    return log


def _files_delete(person: Person, *, now: datetime) -> int:
    """Delete every stored import file with a row naming the person.

    Deleted whole rather than rewritten without the row: a finished import's results
    and its error report live in the database, so the file is only a record of what
    was uploaded, and a rewritten file would no longer be that record either. An import
    not finished yet is stopped (failed, with a message): its rows are not in the
    database yet, and it must be uploaded again without the person.
    """
    jobs = _import_files(person)
    for job in ImportJob.objects.filter(pk__in=list(jobs)):
        _file_drop(job, now=now, message="The file was deleted: a person in it was erased.")
    # The header of a file without one is its first row: a cell that names the person
    # (whole, as in the file) is emptied; a column title such as "Postleitzahl" is not.
    headers = ImportJob.objects.exclude(header=[]).only("pk", "header")
    if person.team_id is not None:
        headers = headers.filter(campaign__team_id=person.team_id)
    for job in headers:
        header = ["" if _cell_matches(cell, person) else cell for cell in job.header]
        if header != job.header:
            ImportJob.objects.filter(pk=job.pk).update(header=header)
    return len(jobs)


def _file_drop(job: ImportJob, *, now: datetime, message: str) -> None:
    if job.file:
        job.file.delete(save=False)
    update = {"file": "", "updated_at": now}
    if not job.is_finished:
        update.update(status=ImportJob.Status.FAILED, finished_at=now, message=message)
    ImportJob.objects.filter(pk=job.pk).update(**update)


# --- retention ---------------------------------------------------------------------------

# Leads that did not become customers: closed, or still a lead after the period.
RETAINED_STAGES = (Stage.LEAD, Stage.REJECTED, Stage.DISQUALIFIED, Stage.UNREACHABLE, Stage.LOST)


def months_before(moment: datetime, months: int) -> datetime:
    """The same day and time `months` calendar months earlier (31 March - 1 → 28/29 Feb)."""
    years, index = divmod(moment.month - 1 - months, 12)
    year, month = moment.year + years, index + 1
    return moment.replace(
        year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1])
    )


def _policies() -> tuple[RetentionPolicy, dict[int, RetentionPolicy]]:
    default = RetentionPolicy(
        closed_lead_months=settings.LEADBRIDGE_RETENTION_LEAD_MONTHS,
        import_file_days=settings.LEADBRIDGE_RETENTION_IMPORT_DAYS,
        webhook_payload_days=settings.LEADBRIDGE_RETENTION_WEBHOOK_DAYS,
    )
    teams = {}
    for policy in RetentionPolicy.objects.all():
        if policy.team_id is None:
            default = policy
        else:
            teams[policy.team_id] = policy
    return default, teams


def _per_team(team_field: str, cutoff_of, default, teams) -> Q:
    """cutoff_of(policy) → Q for that policy's rows; the default for teams without one."""
    where = cutoff_of(default) & ~Q(**{f"{team_field}__in": list(teams)})
    for team_id, policy in teams.items():
        where |= Q(**{team_field: team_id}) & cutoff_of(policy)
    return where


def retention_leads_due(*, now: datetime) -> QuerySet:
    """Leads past their team's period: not customers, not erased, and the last activity
    (the later of the lead's last change and its last timeline entry) before the cutoff."""
    default, teams = _policies()
    last_event = LeadEvent.objects.filter(lead=OuterRef("pk")).order_by("-at").values("at")[:1]
    return (
        Lead.objects.filter(stage__in=RETAINED_STAGES, erasure__isnull=True)
        .annotate(
            last_activity=Greatest("updated_at", Coalesce(Subquery(last_event), "updated_at"))
        )
        .filter(
            _per_team(
                "team_id",
                lambda p: Q(last_activity__lt=months_before(now, p.closed_lead_months)),
                default,
                teams,
            )
        )
        .order_by("pk")
    )


def retention_files_due(*, now: datetime) -> QuerySet:
    default, teams = _policies()
    return (
        ImportJob.objects.exclude(file="")
        .filter(status__in=[ImportJob.Status.DONE, ImportJob.Status.FAILED])
        .filter(
            _per_team(
                "campaign__team_id",
                lambda p: Q(finished_at__lt=now - timedelta(days=p.import_file_days)),
                default,
                teams,
            )
        )
        .order_by("pk")
    )


def retention_payloads_due(*, now: datetime) -> QuerySet:
    default, teams = _policies()
    return (
        WebhookDelivery.objects.exclude(payload=None)
        .filter(status__in=[WebhookDelivery.Status.DELIVERED, WebhookDelivery.Status.FAILED])
        .filter(
            _per_team(
                "lead__team_id",
                lambda p: Q(updated_at__lt=now - timedelta(days=p.webhook_payload_days)),
                default,
                teams,
            )
        )
        .order_by("pk")
    )


@dataclass
class RetentionReport:
    leads: int = 0
    files: int = 0
    payloads: int = 0

    def __str__(self) -> str:
        return f"leads anonymised: {self.leads}, import files deleted: {self.files}, webhook bodies dropped: {self.payloads}"


def retention_apply(
    *, now: datetime, batch_size: int | None = None, max_batches: int = 20
) -> RetentionReport:
    """Anonymise what is past its period, in bounded batches, each lead exactly once.

    Steps:
    1. leads: take up to batch_size due leads, lock them (SKIP LOCKED: a second worker
       takes others), erase them through the same _erase as a request (one log row per
       batch); ErasedLead's unique lead is the last line against a double erasure;
    2. import files of finished imports past import_file_days: deleted;
    3. webhook bodies of finished deliveries past webhook_payload_days: dropped.
    At most max_batches batches of each per run; the next beat tick takes the rest.
    """
    batch_size = batch_size or settings.LEADBRIDGE_RETENTION_BATCH_SIZE
    report = RetentionReport()
    for _batch in range(max_batches):
        with transaction.atomic():
            due = list(retention_leads_due(now=now).values_list("pk", flat=True)[:batch_size])
            if not due:
                break
            locked = Lead.objects.filter(pk__in=due, erasure__isnull=True).order_by("pk")
            if connection.vendor == "postgresql":
                locked = locked.select_for_update(skip_locked=True, of=("self",))
            leads = list(locked)
            if not leads:
                break
            person = _person("", leads)
            _erase(
                person,
                by=None,
                reason="retention",
                now=now,
                trigger=Trigger.RETENTION,
            )
            report.leads += len(leads)
        if len(due) < batch_size:
            break
    for _batch in range(max_batches):
        jobs = list(retention_files_due(now=now)[:batch_size])
        for job in jobs:
            _file_drop(job, now=now, message="")
        report.files += len(jobs)
        if len(jobs) < batch_size:
            break
    for _batch in range(max_batches):
        pks = list(retention_payloads_due(now=now).values_list("pk", flat=True)[:batch_size])
        report.payloads += WebhookDelivery.objects.filter(pk__in=pks).update(payload=None)
        if len(pks) < batch_size:
            break
    return report
