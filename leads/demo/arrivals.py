"""When and with what the demo's leads arrive (before the seeder receives them)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.core.management.base import CommandError
from django.utils import timezone

from campaigns.models import Campaign, Channel
from leadbridge.calendar import TZ, BusinessCalendar
from leads.models import (
    LawfulBasis,
)

from .story import (
    INDUSTRIES,
    LEGAL_FORMS,
    MARKER_CAMPAIGN,
    MESSAGES_CALL,
    MESSAGES_GENERAL,
    MESSAGES_MATERIAL,
    OFFICE_DAY,
    PLACES,
    QUEUE_SLOTS,
    REPS_PER_TEAM,
    TEAMS,
    CampaignPlan,
    LeadSpec,
    ascii_fold,
    company_domain,
)


class LeadArrivals:
    """Part of DemoSeeder: the lead specs, from the campaigns' plans and the story's shares."""

    # --- the leads, before they arrive -------------------------------------------

    def _specs(self) -> list[LeadSpec]:
        queue = self._queue_specs()
        # Keep other leads out of the queue leads' minutes, so their round-robin stays intact.
        self._blocked = [
            (s.received_at - timedelta(minutes=20), s.received_at + timedelta(minutes=20))
            for s in queue
        ]
        producing = [(plan, campaign) for plan, campaign in self.campaigns if plan.share > 0]
        total = sum(plan.share for plan, _campaign in producing)
        wanted = self.n_leads - len(queue)
        counts = [round(wanted * plan.share / total) for plan, _campaign in producing]
        counts[0] += wanted - sum(counts)  # rounding rest: the website form
        specs = []
        for (plan, campaign), count in zip(producing, counts, strict=True):
            starts_on, ends_on = self._campaign_dates(plan)
            first = max(starts_on, self.history_start.date())
            last = min(ends_on or self.today, self.today)
            moments = sorted(self._arrivals(plan, first, last) for _i in range(count))
            for index, received_at in enumerate(moments):
                intake_at = self._intake_time(plan, received_at)
                specs.append(
                    LeadSpec(
                        received_at,
                        intake_at,
                        campaign,
                        self._lead_data(plan, campaign, received_at, index),
                    )
                )
        specs.extend(queue)
        specs.sort(key=lambda s: (s.intake_at, s.received_at))
        return specs

    def _free(self, moment: datetime) -> bool:
        return self.history_start <= moment < self.now - timedelta(minutes=20) and not any(
            lo <= moment <= hi for lo, hi in self._blocked
        )

    def _arrivals(self, plan: CampaignPlan, first: date, last: date) -> datetime:
        rng = self.rng
        for _attempt in range(200):
            if plan.arrivals == "fair":
                day = first + timedelta(days=rng.randint(0, (last - first).days))
                moment = self._at(day, rng.uniform(9, 17.5))
            elif plan.arrivals == "post":  # reply coupons: from two days on, trailing off
                day = first + timedelta(days=int(rng.expovariate(1 / 9)) + 2)
                if day.weekday() >= 5:
                    day += timedelta(days=7 - day.weekday())
                moment = self._at(day, rng.uniform(9, 12))
            elif plan.arrivals == "burst":
                day = first + timedelta(days=int(rng.expovariate(1 / 1.6)))
                moment = self._at(day, self._web_hour())
            elif plan.arrivals == "webinar":  # most on the day itself (its last day)
                span = (last - first).days
                day = last if rng.random() < 0.65 else first + timedelta(days=rng.randint(0, span))
                moment = self._at(day, rng.uniform(10, 16))
            else:  # web, partner: any day, weekends and evenings less often
                day = first + timedelta(days=rng.randint(0, (last - first).days))
                if day.weekday() >= 5 and rng.random() < 0.7:
                    continue
                hour = self._web_hour() if plan.arrivals == "web" else rng.uniform(8, 17)
                moment = self._at(day, hour)
            if day <= last and self._free(moment):
                return moment
        raise CommandError(f"could not place a lead of {plan.name} in its dates")

    def _web_hour(self) -> float:
        return (
            self.rng.uniform(7.5, 17.5)
            if self.rng.random() < 0.78
            else self.rng.uniform(17.5, 22.5)
        )

    @staticmethod
    def _at(day: date, hour: float) -> datetime:
        minutes = int(hour * 60)
        return datetime.combine(day, time(minutes // 60, minutes % 60, 0), TZ)

    def _intake_time(self, plan: CampaignPlan, received_at: datetime) -> datetime:
        """When the lead reached LeadBridge: forms at once, scans in the evening, coupons later."""
        if plan.arrivals == "fair":
            # Scans imported each evening, the day's file in one go.
            intake = datetime.combine(timezone.localtime(received_at).date(), time(18, 30), TZ)
        elif plan.arrivals == "post":
            # The morning's reply coupons, typed in together after lunch.
            intake = datetime.combine(timezone.localtime(received_at).date(), time(13, 30), TZ)
        elif plan.arrivals == "partner":
            intake = received_at + timedelta(minutes=self.rng.randint(2, 120))
        else:
            return received_at  # web form, newsletter, webinar: received the moment it is sent
        return intake if self._free(intake) else received_at

    def _lead_data(
        self, plan: CampaignPlan, campaign: Campaign, received_at: datetime, index: int
    ) -> dict:
        bucket = self.rng.choices(list(plan.geo), weights=list(plan.geo.values()))[0]
        # Fair scans carry the scanner's record id: a re-imported file never doubles a lead.
        external_id = f"SCAN-{index + 1:05d}" if plan.arrivals == "fair" else ""
        data = self._person(
            bucket, campaign, received_at, external_id=external_id, **self._wishes(plan, campaign)
        )
        if plan.arrivals != "fair" and self.rng.random() < 0.12:
            data["phone"] = ""
        return data

    def _wishes(self, plan: CampaignPlan, campaign: Campaign) -> dict:
        rng = self.rng
        if plan.channel == Channel.WEBSITE:
            # Web enquiries either ask for a call (no material: the 1-hour call rule) or material.
            r = rng.random()
            wants_call, wants_material = (
                r < plan.call_share,
                plan.call_share <= r < plan.call_share + plan.material_share,
            )
        else:
            wants_material = rng.random() < plan.material_share
            wants_call = rng.random() < plan.call_share
        material = rng.choice(campaign.offered) if wants_material else None
        if wants_material:
            message = rng.choice(MESSAGES_MATERIAL).format(m=f"„{material.title}“", n="{n}")
        elif wants_call:
            message = rng.choice(MESSAGES_CALL)
        else:
            message = rng.choice(MESSAGES_GENERAL).format(c=campaign.name)
        return {
            "requests_material": wants_material,
            "requested_material": material,
            "wants_call": wants_call,
            "message": message,
        }

    def _person(self, bucket: str, campaign: Campaign, received_at: datetime, **extra) -> dict:
        rng, fake = self.rng, self.fake
        postcode, city, region = rng.choice(PLACES[bucket])
        first, last = fake.first_name(), fake.last_name()
        if rng.random() < 0.5:
            company = fake.company()
            if not any(form in company for form in ("GmbH", "AG", "KG", "OHG", "GbR", "Stiftung")):
                company = f"{company} {rng.choice(INDUSTRIES)} {rng.choice(LEGAL_FORMS)}"
        else:
            company = f"{fake.last_name()} {rng.choice(INDUSTRIES)} {rng.choice(LEGAL_FORMS)}"
        local = (
            f"{ascii_fold(first)}.{ascii_fold(last)}"
            if rng.random() < 0.6
            else f"{ascii_fold(first)[0]}.{ascii_fold(last)}"
        )
        title = "Dr. " if rng.random() < 0.06 else ""
        data = {
            "channel": campaign.channel,
            "company": company,
            "contact_name": f"{title}{first} {last}",
            "email": f"{local}@{company_domain(company)}",
            "phone": fake.phone_number(),
            "street": fake.street_address(),
            "postcode": postcode,
            "city": city,
            "country": "AT" if bucket == "at" else "DE",
            "region": region,
            "received_at": received_at,
            **extra,
        }
        data["message"] = data.get("message", "").replace("{n}", f"{first} {last}")
        # Form leads consented; the others (fair scans, coupons, calls) are enquiries.
        # Before the go-live nobody kept a record of consent: material went out by hand.
        data["lawful_basis"] = LawfulBasis.CONTRACT
        if received_at >= self.go_live and campaign.channel in {
            Channel.WEBSITE,
            Channel.NEWSLETTER,
            Channel.WEBINAR,
        }:
            data["consent_text"] = str(campaign.consent_text_for("de"))
            data["consent_language"] = "de"
            data["consent_at"] = received_at
            data["lawful_basis"] = LawfulBasis.CONSENT
        return data

    def _queue_specs(self) -> list[LeadSpec]:
        """Recent Süd web leads nobody has touched yet: the reps' queues today.

        One more than Süd has reps in a row each time, so the round-robin hands
        one to every Süd rep, the demo rep among them: a call-back overdue for a
        few office hours, a catalogue due today, a call-back due in two days, and
        a call request from minutes ago (due within the hour while the office is
        open, else an hour after it opens).
        """
        website = next(c for p, c in self.campaigns if p.name == MARKER_CAMPAIGN)
        calendar = BusinessCalendar.for_region(TEAMS[0][1])
        now = self.now
        slots = [
            # (received, asks for a call, asks for printed material)
            (calendar.subtract(now, f"{2 * OFFICE_DAY + 150}m"), False, False),
            (calendar.subtract(now, f"{OFFICE_DAY + 60}m"), False, True),
            (calendar.subtract(now, "180m"), False, False),
            (now - timedelta(minutes=14), True, False),
        ]
        assert len(slots) == QUEUE_SLOTS
        catalogue = self.materials["katalog"]
        specs = []
        for received, wants_call, wants_material in slots:
            for i in range(REPS_PER_TEAM + 1):
                moment = received + timedelta(minutes=2 * i)
                wishes = {
                    "requests_material": wants_material,
                    "requested_material": catalogue if wants_material else None,
                    "wants_call": wants_call,
                    "message": self.rng.choice(
                        MESSAGES_CALL if wants_call else MESSAGES_GENERAL[1:3]
                    ),
                }
                data = self._person("sued", website, moment, **wishes)
                specs.append(LeadSpec(moment, moment, website, data, keep_open=True))
        return specs
