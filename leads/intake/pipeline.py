"""The intake pipeline: every new lead, from every path, comes in through `leads_receive`.

A batch of one for the web form, manual entry, the admin and a single API POST;
chunks for the bulk API, the CSV/XLSX import and the demo seeder. For a batch:

1. refuse erased people (the suppression list), unless a new lawful basis was
   recorded (allow_suppressed);
2. repeats: the lead this campaign + external_id made before (stored, or earlier
   in the batch) answers again, nothing is written;
3. known people by Lead.dedup_key, unless on_duplicate is create, among the
   leads the actor may see (a lead outside their scope is neither merged into
   nor named): skip answers with the known lead, merge fills its empty fields
   first (lead_merge_into);
4. the new leads: channel and first material from the campaign, the lawful
   basis's source and time, the identity key; the team (Router.team_for) unless
   the sender chose owner or team;
5. the follow-ups the handoff contract owes, with their deadlines (business
   calendar of the team);
6. under the team locks, the reps (Router.assign);
7. the material rule: digital material asked for with an email and consent goes
   out at once — the send-material follow-up closed as emailed, the milestone on
   the lead, the call-back counted from now, the outbox row the worker sends;
   a marketing opt-in asked for gets its confirmation email (outbox too);
8. write it all (writers.py: the ORM, or COPY for big batches on PostgreSQL)
   with the timeline entries; then the webhooks (outbox rows, same transaction).

A concurrent request storing one of the external ids first makes the write fail
on the unique constraint: the batch rolls back to its savepoint and is done
again, and then finds that lead in step 2.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db import IntegrityError, transaction

from accounts.models import User
from campaigns.models import Campaign, MaterialEmail, OptInEmail
from followups.deadlines import (
    calendar_for,
    followup_build,
    followup_created_entry,
    initial_followups,
    sla_policy_for,
)
from followups.models import FollowUp
from integrations.models import Event
from integrations.services import webhook_deliveries_for_leads, webhook_followups_completed
from privacy.services import suppressed_emails

from ..models import Lead, LeadEvent, lawful_basis_record
from .router import Router
from .writers import Writer, writer_for

MERGEABLE = ("company", "email", "phone", "street", "postcode", "city", "region", "message")


class OnDuplicate:
    CREATE = "create"  # a new enquiry from a known person is still a new lead
    SKIP = "skip"  # keep the earlier lead untouched
    MERGE = "merge"  # fill the earlier lead's empty fields, note it on its timeline


class Status:
    CREATED = "created"
    EXISTING = "existing"  # a repeat of campaign + external_id
    DUPLICATE = "duplicate"  # a known person, skipped
    MERGED = "merged"  # a known person, merged into the earlier lead
    ERASED = "erased"  # on the suppression list: refused


@dataclass
class Received:
    """What became of one item: its status and the lead that answers it (None if erased)."""

    lead: Lead | None
    status: str

    @property
    def created(self) -> bool:
        return self.status == Status.CREATED

    @property
    def duplicate(self) -> bool:
        return self.status in {Status.DUPLICATE, Status.MERGED}


def leads_receive(
    *,
    items: list[dict],
    source: str,
    now: datetime,
    actor: User | None = None,
    on_duplicate: str = OnDuplicate.CREATE,
    allow_suppressed: bool = False,
    writer: Writer | None = None,
) -> list[Received]:
    """Receive a batch of leads; one Received per item, in order.

    Each item holds Lead fields (received_at defaults to now, a lawful_basis among
    them), its `campaign` (or None) and, chosen by a team lead, `owner` or `team`
    instead of routing. Run inside the caller's transaction or its own.
    """
    for attempt in range(3):
        try:
            with transaction.atomic():
                return _Batch(
                    source=source,
                    now=now,
                    actor=actor,
                    on_duplicate=on_duplicate,
                    allow_suppressed=allow_suppressed,
                ).receive(items, writer=writer)
        except IntegrityError:
            if attempt == 2 or not any(item.get("external_id") for item in items):
                raise
    raise AssertionError("unreachable")


class _Batch:
    def __init__(self, *, source, now, actor, on_duplicate, allow_suppressed):
        self.source, self.now, self.actor = source, now, actor
        self.on_duplicate, self.allow_suppressed = on_duplicate, allow_suppressed
        self.router = Router()
        self.first_material: dict[int, object] = {}
        self.policies: dict[tuple, object] = {}
        self.calendars: dict[int | None, object] = {}

    def receive(self, items: list[dict], *, writer: Writer | None) -> list[Received]:
        results: list[Received | None] = [None] * len(items)
        erased = set()
        if not self.allow_suppressed:
            erased = suppressed_emails([item["email"] for item in items if item.get("email")])
        stored = self._stored_repeats(items)
        new: list[tuple[int, Lead]] = []
        same_as: list[tuple[int, str, Lead]] = []  # (index, status, a new lead of the batch)
        by_external: dict[tuple, Lead] = {}
        for index, item in enumerate(items):
            if item.get("email") and item["email"] in erased:
                results[index] = Received(None, Status.ERASED)
                continue
            campaign = item.get("campaign")
            key = (campaign.pk if campaign else None, item.get("external_id") or "")
            if key[1] and key in stored:
                results[index] = Received(stored[key], Status.EXISTING)
            elif key[1] and key in by_external:
                same_as.append((index, Status.EXISTING, by_external[key]))
            else:
                lead = self._lead(item)
                if key[1]:
                    by_external[key] = lead
                new.append((index, lead))
        if self.on_duplicate != OnDuplicate.CREATE:
            new = self._known_people(new, results, same_as)
        leads = [lead for _index, lead in new]
        followups = self._followups(leads)
        self.router.assign(leads, now=self.now)
        for followup in followups:
            followup.assignee_id = followup.lead.owner_id
        sent = self._material(leads, followups)
        events = self._timeline(leads, followups, sent)
        writer = writer or writer_for(len(leads))
        writer.insert(leads)
        writer.insert(followups)
        writer.insert(events)
        writer.insert(
            [
                MaterialEmail(
                    lead=lead,
                    followup=material,
                    material_id=lead.requested_material_id,
                    to=lead.email,
                    created_at=lead.material_sent_at,
                )
                for lead, material, _callback in sent
            ]
        )
        writer.insert(
            [
                OptInEmail(lead=lead, created_at=self.now)
                for lead in leads
                if lead.marketing_consent_requested_at is not None and lead.email
            ]
        )
        webhook_deliveries_for_leads(
            event=Event.LEAD_CREATED, lead_ids=[lead.pk for lead in leads], now=self.now
        )
        webhook_followups_completed(
            followup_ids=[material.pk for _lead, material, _callback in sent], now=self.now
        )
        for index, lead in new:
            results[index] = Received(lead, Status.CREATED)
        for index, status, lead in same_as:
            # A repeat of a batch item that turned out a known person answers with that one.
            results[index] = Received(getattr(lead, "known_as", lead), status)
        return results

    # -- 2. repeats --------------------------------------------------------------------

    def _stored_repeats(self, items: list[dict]) -> dict[tuple, Lead]:
        wanted: dict[int | None, set[str]] = defaultdict(set)
        for item in items:
            if item.get("external_id"):
                campaign = item.get("campaign")
                wanted[campaign.pk if campaign else None].add(item["external_id"])
        stored = {}
        for campaign_id, external_ids in wanted.items():
            # exclude(external_id=""): what the partial unique index says, so it is used.
            for lead in Lead.objects.filter(
                campaign_id=campaign_id, external_id__in=external_ids
            ).exclude(external_id=""):
                stored[(campaign_id, lead.external_id)] = lead
        return stored

    # -- 3. known people ---------------------------------------------------------------

    def _known_people(self, new, results, same_as) -> list[tuple[int, Lead]]:
        merge = self.on_duplicate == OnDuplicate.MERGE
        status = Status.MERGED if merge else Status.DUPLICATE
        keys = {lead.dedup_key for _index, lead in new}
        leads = Lead.objects.all() if self.actor is None else Lead.objects.visible_to(self.actor)
        earlier: dict[str, Lead] = {}
        # The most recent earlier lead per key (duplicate_of's order).
        for lead in leads.filter(dedup_key__in=keys).order_by("dedup_key", "-received_at", "-pk"):
            earlier.setdefault(lead.dedup_key, lead)
        first_new: dict[str, Lead] = {}
        kept = []
        for index, lead in new:
            key = lead.dedup_key
            if key in earlier:
                lead.known_as = earlier[key]
                if merge:
                    lead_merge_into(
                        earlier[key], lead, actor=self.actor, now=self.now, source=self.source
                    )
                results[index] = Received(earlier[key], status)
            elif key in first_new:
                first = lead.known_as = first_new[key]
                if merge:
                    first.merged_from = getattr(first, "merged_from", [])
                    for name in MERGEABLE:
                        if getattr(lead, name) and not getattr(first, name):
                            setattr(first, name, getattr(lead, name))
                            first.merged_from.append(name)
                same_as.append((index, status, first))
            else:
                first_new[key] = lead
                kept.append((index, lead))
        return kept

    # -- 4. the new leads ----------------------------------------------------------------

    def _lead(self, item: dict) -> Lead:
        fields = dict(item)
        campaign: Campaign | None = fields.pop("campaign", None)
        owner, team = fields.pop("owner", None), fields.pop("team", None)
        fields.setdefault("received_at", self.now)
        fields.update(lawful_basis_record(fields, source=self.source))
        lead = Lead(campaign=campaign, source=self.source, **fields)
        if campaign is not None:
            lead.channel = lead.channel or campaign.channel
            if lead.requests_material and lead.requested_material_id is None:
                lead.requested_material = self._first_material(campaign)
        lead.dedup_key = lead.compute_dedup_key()
        if owner is not None:
            lead.owner, lead.team = owner, owner.team
        else:
            lead.team = team or self.router.team_for(
                campaign=campaign,
                channel=lead.channel,
                country=lead.country,
                postcode=lead.postcode,
            )
        return lead

    def _first_material(self, campaign: Campaign):
        if campaign.pk not in self.first_material:
            self.first_material[campaign.pk] = campaign.materials.order_by("pk").first()
        return self.first_material[campaign.pk]

    # -- 5. follow-ups ---------------------------------------------------------------------

    def _policy(self, lead: Lead):
        key = (lead.campaign_id, lead.channel)
        if key not in self.policies:
            self.policies[key] = sla_policy_for(lead=lead)
        return self.policies[key]

    def _calendar(self, lead: Lead):
        if lead.team_id not in self.calendars:
            self.calendars[lead.team_id] = calendar_for(team=lead.team)
        return self.calendars[lead.team_id]

    def _followups(self, leads: list[Lead]) -> list[FollowUp]:
        followups = []
        for lead in leads:
            followups += initial_followups(
                lead=lead, policy=self._policy(lead), calendar=self._calendar(lead)
            )
        return followups

    # -- 7. the material rule -----------------------------------------------------------

    def _material(self, leads: list[Lead], followups: list[FollowUp]) -> list[tuple]:
        """Digital material with an email and consent goes out now (PRODUCT.md defaults);
        printed material stays a send-material follow-up for sales. [(lead, the closed
        send-material follow-up, the call-back it booked or None)]"""
        by_lead: dict[int, list[FollowUp]] = defaultdict(list)
        for followup in followups:
            by_lead[id(followup.lead)].append(followup)
        sent = []
        for lead in leads:
            material = lead.requested_material if lead.requests_material else None
            if material is None or material.is_printed or not (lead.email and lead.consent_at):
                continue
            # Not before the enquiry (a received_at a little ahead of this clock, or a
            # batch whose now is when it started: the demo seeder's day).
            now = max(self.now, lead.received_at)
            owed = by_lead[id(lead)]
            target = next(f for f in owed if f.kind == FollowUp.Kind.MATERIAL)
            target.completed_at, target.outcome, target.updated_at = now, "emailed", now
            minutes = self._calendar(lead).business_minutes_between(lead.received_at, now)
            lead.material_sent_at, lead.material_minutes = now, max(minutes, 0)
            lead.material_on_time = now <= target.overdue_at
            callback = None
            if not any(f.kind == FollowUp.Kind.CALLBACK for f in owed):
                # One open call-back at a time: a web call request is not doubled.
                callback = followup_build(
                    lead=lead,
                    kind=FollowUp.Kind.CALLBACK,
                    rule="callback_after_digital",
                    policy=self._policy(lead),
                    starts_at=now,
                    calendar=self._calendar(lead),
                )
                followups.append(callback)
            sent.append((lead, target, callback))
        return sent

    # -- 8. the timeline ---------------------------------------------------------------

    def _timeline(self, leads, followups, sent) -> list[LeadEvent]:
        """Per lead: received, assigned, its follow-ups, the material sent; merge notes."""
        actor, now = self.actor, self.now
        initial: dict[int, list[FollowUp]] = defaultdict(list)
        for followup in followups:
            initial[id(followup.lead)].append(followup)
        dispatched = {id(lead): (material, callback) for lead, material, callback in sent}
        events = []
        for lead in leads:
            campaign = lead.campaign
            events.append(
                LeadEvent(
                    lead=lead,
                    kind=LeadEvent.Kind.RECEIVED,
                    actor=actor,
                    at=lead.received_at,
                    data={"source": self.source, "campaign": campaign.name if campaign else None},
                )
            )
            if lead.owner_id:
                events.append(
                    LeadEvent(
                        lead=lead,
                        kind=LeadEvent.Kind.ASSIGNED,
                        actor=actor,
                        at=now,
                        data={
                            "to": lead.owner_id,
                            "to_name": str(lead.owner),
                            "team": str(lead.team),
                            "by": "routing",
                        },
                    )
                )
            material, callback = dispatched.get(id(lead), (None, None))
            policy = self._policy(lead)
            events += [
                followup_created_entry(lead=lead, followup=followup, policy=policy)
                for followup in initial[id(lead)]
                if followup is not callback
            ]
            if material is not None:
                events.append(
                    LeadEvent(
                        lead=lead,
                        followup=material,
                        kind=LeadEvent.Kind.MATERIAL_SENT,
                        at=lead.material_sent_at,
                        data={"postal": False, "material": str(lead.requested_material)},
                    )
                )
            if callback is not None:
                events.append(
                    LeadEvent(
                        lead=lead,
                        followup=callback,
                        kind=LeadEvent.Kind.FOLLOWUP_CREATED,
                        at=lead.material_sent_at,
                        data={"kind": callback.kind, "due_at": callback.due_at.isoformat()},
                    )
                )
            merged = getattr(lead, "merged_from", None)
            if merged is not None:
                events.append(_merge_note(lead, merged, actor=actor, now=now, source=self.source))
        return events


def _merge_note(lead: Lead, filled: Iterable[str], *, actor, now, source) -> LeadEvent:
    return LeadEvent(
        lead=lead,
        kind=LeadEvent.Kind.NOTE,
        actor=actor,
        at=now,
        data={"note": "merged duplicate", "source": source, "filled": sorted(filled)},
    )


@transaction.atomic
def lead_merge_into(
    earlier: Lead, new: Lead, *, actor: User | None, now: datetime, source: str
) -> None:
    """Fill the earlier lead's empty contact fields from a duplicate (on_duplicate=merge)."""
    filled = {
        name: getattr(new, name)
        for name in MERGEABLE
        if getattr(new, name) and not getattr(earlier, name)
    }
    if filled:
        Lead.objects.filter(pk=earlier.pk).update(**filled)
        for name, value in filled.items():
            setattr(earlier, name, value)
    _merge_note(earlier, filled, actor=actor, now=now, source=source).save()
