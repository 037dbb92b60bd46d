"""seed_demo: a reproducible demo company with 90 days of lead history, before and after.

The story the data tells (PRODUCT.md, "The failure it exists to end"):

- Days 90..45 ago, *before*: leads came in and got their follow-ups with
  deadlines, but nobody worked the queue and no sweep ran. About 22 % of the
  material requests went out after roughly three weeks, many others late or
  never; about 8 % of the leads were ever called back; sales seldom decided.
- 45 days ago LeadBridge went live: the team leads closed the dead part of that
  backlog as lost (closing is not contact: on the dashboard those leads stay
  "never called"), and the overdue sweep started.
- *After*: digital material goes out at once, most call-backs happen within the
  SLA, sales accepts or rejects nearly every lead, some leads become prospects
  and sales, a few slip through and get escalated. On the last working day the
  team leads closed what was left of the old leads, so the queues today hold
  only current work, and the demo rep has overdue, due-today and upcoming items.

Every write about a lead goes through the services, in time order: the bulk
intake (integrations.intake.leads_receive_bulk, a day's leads at a time),
material_dispatch, call_log, lead_decide, lead_qualify, followup_complete,
lead_move and sweep_overdue. Routing, deadlines, milestones, escalations,
reassignments and notifications are what the product itself produced; this
module only decides who does what, and when. Its size (DEMO_LEADS) is what
keeps the first `make run` short: the run time grows with the leads.
"""

from __future__ import annotations

import heapq
import itertools
import random
import re
import time as wallclock
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import Case, F, OuterRef, Subquery, Value, When
from django.test.utils import override_settings
from django.utils import timezone
from faker import Faker

from accounts.models import Role, RoutingRule, Team, User
from campaigns.models import Campaign, Channel, InfoMaterial, MaterialEmail
from followups.calendar import TZ, BusinessCalendar
from followups.models import Escalation, FollowUp, Notification, SlaPolicy
from followups.services import (
    CallOutcome,
    calendar_for,
    call_log,
    followup_complete,
    material_dispatch,
    sweep_overdue,
)
from leads.intake import leads_receive
from leads.models import (
    CLOSED_STAGES,
    Decision,
    LawfulBasis,
    Lead,
    LeadEvent,
    RejectReason,
    Source,
    Stage,
)
from leads.services import lead_decide, lead_move, lead_qualify

DEMO_PASSWORD = "leadbridge-demo"
SEED = 2026
# Enough for every figure on the dashboard, campaign page and queue to mean
# something (some 60 leads a week for 12 reps), and few enough that the first
# `make run` is up in well under a minute.
DEMO_LEADS = 800
# An existing demo dataset is recognised by this campaign, owned by the demo marketer.
MARKER_CAMPAIGN = "Website-Kontaktformular"
HISTORY_DAYS = 90
GO_LIVE_DAYS_AGO = 45
OFFICE_DAY = 9 * 60  # business minutes in a day of the default office hours (08:00-17:00)

# name, calendar region, first digits of the German postcodes routed to it
TEAMS = [
    ("Vertrieb Süd", "DE-BY", "789"),
    ("Vertrieb West", "DE-NW", "456"),
    ("Vertrieb Nord", "DE-HH", "0123"),
]

# username, first name, last name, role, team index
DEMO_USERS = [
    ("marketing", "Julia", "Brandt", Role.MARKETING, None),
    ("manager", "Claudia", "Hoffmann", Role.MANAGER, 0),
    ("rep", "Tobias", "Wagner", Role.REP, 0),
    ("admin", "Stefan", "Richter", Role.ADMIN, None),
]
REPS_PER_TEAM = 4
QUEUE_SLOTS = 4  # recent untouched Süd leads: overdue, due today, upcoming, just in
QUEUE_LEADS = QUEUE_SLOTS * (REPS_PER_TEAM + 1)


def _places(text: str) -> list[tuple[str, str, str]]:
    """ "80331 München BY; 1010 Wien AT" → [(postcode, town, region code)]."""
    places = []
    for entry in text.split(";"):
        postcode, *town, state = entry.split()
        region = "AT" if state == "AT" else f"DE-{state}"
        places.append((postcode, " ".join(town), region))
    return places


# Real postcodes and towns, so routing by postcode prefix lands where a German would expect.
PLACES = {
    "sued": _places(
        "80331 München BY; 81379 München BY; 85049 Ingolstadt BY; 86150 Augsburg BY; "
        "90402 Nürnberg BY; 91052 Erlangen BY; 93047 Regensburg BY; 97070 Würzburg BY; "
        "94032 Passau BY; 95444 Bayreuth BY; 70173 Stuttgart BW; 71063 Sindelfingen BW; "
        "73033 Göppingen BW; 74072 Heilbronn BW; 76131 Karlsruhe BW; "
        "78050 Villingen-Schwenningen BW; 79098 Freiburg im Breisgau BW; 89073 Ulm BW; "
        "88045 Friedrichshafen BW; 72764 Reutlingen BW"
    ),
    "west": _places(
        "40210 Düsseldorf NW; 42103 Wuppertal NW; 44135 Dortmund NW; 45127 Essen NW; "
        "47051 Duisburg NW; 48143 Münster NW; 50667 Köln NW; 52062 Aachen NW; 53111 Bonn NW; "
        "57072 Siegen NW; 58095 Hagen NW; 59065 Hamm NW; 60311 Frankfurt am Main HE; "
        "63065 Offenbach am Main HE; 64283 Darmstadt HE; 65183 Wiesbaden HE; "
        "66111 Saarbrücken SL; 67059 Ludwigshafen am Rhein RP; 68159 Mannheim BW; "
        "56068 Koblenz RP"
    ),
    "nord": _places(
        "20095 Hamburg HH; 22041 Hamburg HH; 21073 Hamburg HH; 24103 Kiel SH; 23552 Lübeck SH; "
        "28195 Bremen HB; 26122 Oldenburg NI; 10115 Berlin BE; 12489 Berlin BE; "
        "14467 Potsdam BB; 18055 Rostock MV; 19053 Schwerin MV; 30159 Hannover NI; "
        "38100 Braunschweig NI; 33602 Bielefeld NW; 34117 Kassel HE; 01067 Dresden SN; "
        "04109 Leipzig SN; 09111 Chemnitz SN; 06108 Halle (Saale) ST; 39104 Magdeburg ST"
    ),
    "at": _places("1010 Wien AT; 4020 Linz AT; 5020 Salzburg AT; 6020 Innsbruck AT; 8010 Graz AT"),
}
GEO_EVEN = {"sued": 0.36, "west": 0.32, "nord": 0.28, "at": 0.04}

INDUSTRIES = [
    "Antriebstechnik",
    "Maschinenbau",
    "Fördertechnik",
    "Verpackungstechnik",
    "Metallbau",
    "Kunststofftechnik",
    "Automation",
    "Anlagenbau",
    "Präzisionsteile",
    "Umformtechnik",
    "Lebensmitteltechnik",
    "Elektrotechnik",
    "Hydraulik",
    "Werkzeugbau",
    "Logistiksysteme",
]
LEGAL_FORMS = ["GmbH", "GmbH", "GmbH & Co. KG", "AG", "KG", "GmbH & Co. KG"]

MATERIALS = {
    "katalog": (
        "Produktkatalog Antriebstechnik",
        InfoMaterial.Kind.PRINTED,
        "",
        "Gedruckter Gesamtkatalog, 240 Seiten, Versand per Post.",
    ),
    "preisliste": (
        "Preisliste",
        InfoMaterial.Kind.PRINTED,
        "",
        "Aktuelle Listenpreise mit Staffelrabatten, gedruckt.",
    ),
    "whitepaper": (
        "Whitepaper Vorausschauende Instandhaltung (PDF)",
        InfoMaterial.Kind.DIGITAL,
        "https://example.com/downloads/whitepaper-instandhaltung.pdf",
        "Wie Zustandsdaten von Antrieben ungeplante Stillstände vermeiden.",
    ),
    "anwenderbericht": (
        "Anwenderbericht Retrofit bei einem Automobilzulieferer",
        InfoMaterial.Kind.DIGITAL,
        "https://example.com/downloads/anwenderbericht-retrofit.pdf",
        "Modernisierung einer Presslinie in laufender Produktion, mit Zahlen.",
    ),
}


@dataclass(frozen=True)
class CampaignPlan:
    name: str
    channel: str
    starts: int  # days ago
    ends: int | None  # days ago; negative lies ahead; None: open-ended
    budget: int
    expected: int  # responses, for DEMO_LEADS demo leads (scaled with --leads)
    materials: tuple[str, ...]
    hypothesis: str  # its figures are those of the default DEMO_LEADS
    share: float  # of the demo leads
    arrivals: str  # how enquiries trickle in: web, fair, post, burst, webinar, partner
    material_share: float
    call_share: float
    team: int | None = None
    geo: dict = field(default_factory=lambda: GEO_EVEN)


CAMPAIGNS = [
    CampaignPlan(
        MARKER_CAMPAIGN,
        Channel.WEBSITE,
        90,
        None,
        6_000,
        210,
        ("katalog", "whitepaper"),
        "Wer über das Kontaktformular um Rückruf bittet, hat akuten Bedarf. Ein Rückruf "
        "binnen einer Geschäftsstunde soll die Terminquote gegenüber dem Vorjahr verdoppeln.",
        0.24,
        "web",
        0.45,
        0.5,
    ),
    CampaignPlan(
        "Hannover Messe",
        Channel.TRADE_FAIR,
        80,
        None,
        85_000,
        140,
        ("katalog", "preisliste"),
        "Messekontakte werden nur zu Aufträgen, wenn der Katalog binnen zwei Tagen ankommt und "
        "der Außendienst binnen einer Woche anruft. Erwartet: 140 Kontakte, 15 % Angebote.",
        0.16,
        "fair",
        0.6,
        0.25,
        geo={"sued": 0.3, "west": 0.3, "nord": 0.36, "at": 0.04},
    ),
    CampaignPlan(
        "Anzeige MM MaschinenMarkt (Antwortcoupon)",
        Channel.PRINT_AD,
        86,
        56,
        9_500,
        50,
        ("katalog",),
        "Die Anzeige mit Antwortcoupon erreicht Instandhaltungsleiter im Mittelstand; wer den "
        "Katalog anfordert, plant eine Investition in den nächsten zwölf Monaten.",
        0.07,
        "post",
        0.92,
        0.1,
    ),
    CampaignPlan(
        "Newsletter Instandhaltung",
        Channel.NEWSLETTER,
        68,
        61,
        1_200,
        55,
        ("whitepaper",),
        "Das Whitepaper zur vorausschauenden Instandhaltung aktiviert schlafende Interessenten; "
        "jeder zehnte Leser soll ein Beratungsgespräch annehmen.",
        0.07,
        "burst",
        0.8,
        0.1,
    ),
    CampaignPlan(
        "Mailing Maschinenbau NRW",
        Channel.MAILING,
        62,
        40,
        14_000,
        36,
        ("katalog",),
        "Ein adressiertes Mailing an 600 Maschinenbauer in NRW bringt 36 Katalogwünsche; "
        "der Vertrieb West ruft jeden binnen drei Tagen nach dem Versand an.",
        0.05,
        "post",
        0.85,
        0.15,
        team=1,
        geo={"west": 1.0},
    ),
    CampaignPlan(
        "Partnerprogramm Systemhäuser",
        Channel.PARTNER,
        75,
        None,
        10_000,
        32,
        ("preisliste",),
        "Systemhäuser empfehlen uns bei Retrofit-Projekten; diese Leads sind warm und sollen "
        "zur Hälfte in ein Angebot münden.",
        0.05,
        "partner",
        0.4,
        0.5,
        team=2,
    ),
    CampaignPlan(
        "Motek",
        Channel.TRADE_FAIR,
        30,
        None,
        42_000,
        90,
        ("preisliste", "anwenderbericht"),
        "Auf der Motek treffen wir Konstrukteure aus Baden-Württemberg und Bayern; Rückruf "
        "binnen zwei Werktagen nach dem Gespräch, Ziel 15 Vor-Ort-Termine.",
        0.12,
        "fair",
        0.6,
        0.3,
        team=0,
        geo={"sued": 0.75, "west": 0.12, "nord": 0.05, "at": 0.08},
    ),
    CampaignPlan(
        "Webinar Predictive Maintenance",
        Channel.WEBINAR,
        33,
        19,
        3_000,
        50,
        ("whitepaper", "anwenderbericht"),
        "Wer am Webinar teilnimmt, ist qualifiziert; wer danach den Anwenderbericht anfordert, "
        "bekommt binnen zwei Tagen einen Anruf und ein Demo-Angebot.",
        0.06,
        "webinar",
        0.7,
        0.25,
    ),
    CampaignPlan(
        "Newsletter Anwenderberichte",
        Channel.NEWSLETTER,
        13,
        6,
        1_200,
        40,
        ("anwenderbericht",),
        "Konkrete Anwenderberichte überzeugen mehr als Datenblätter; erwartet 40 Anfragen, "
        "davon ein Drittel mit Rückrufwunsch.",
        0.05,
        "burst",
        0.75,
        0.3,
    ),
    CampaignPlan(
        "Anzeige konstruktionspraxis (Antwortcoupon)",
        Channel.PRINT_AD,
        21,
        -9,
        7_800,
        36,
        ("katalog",),
        "Die Anzeige spricht Entwicklungsabteilungen an; Katalog per Post, Rückruf binnen drei "
        "Werktagen nach dem Versand.",
        0.05,
        "post",
        0.9,
        0.1,
    ),
    CampaignPlan(
        "Suchanzeigen Retrofit-Landingpage",
        Channel.WEBSITE,
        40,
        None,
        12_000,
        70,
        ("anwenderbericht",),
        "Suchanzeigen zu „Retrofit Fertigungslinie“ bringen Anfragen mit Projektbezug; wer "
        "anruft oder um Rückruf bittet, wird binnen einer Stunde zurückgerufen.",
        0.08,
        "web",
        0.35,
        0.55,
    ),
    # Lies ahead and brings no leads yet: sales has not signed off its follow-up plan.
    CampaignPlan(
        "SPS Nürnberg",
        Channel.TRADE_FAIR,
        -12,
        -15,
        38_000,
        200,
        ("katalog", "preisliste"),
        "Automatisierer aus ganz Deutschland; 200 Kontakte in drei Tagen. Der Vertrieb Süd "
        "braucht dafür in der Woche nach der Messe doppelte Telefonkapazität.",
        0.0,
        "fair",
        0.6,
        0.3,
        team=0,
    ),
]

MESSAGES_MATERIAL = [
    "Bitte senden Sie uns {m} zu.",
    "Wir interessieren uns für {m}, gerne an die angegebene Adresse.",
    "Bitte {m} an unsere Einkaufsabteilung, z. Hd. {n}.",
    "Für ein anstehendes Projekt bitten wir um {m}.",
]
MESSAGES_CALL = [
    "Bitte rufen Sie mich zurück, wir planen die Modernisierung einer Fertigungslinie.",
    "Wir suchen Ersatz für die Antriebe unserer Verpackungsanlage. Rückruf erbeten.",
    "Haben Sie kurzfristig Kapazität für ein Retrofit-Projekt? Bitte um Rückruf.",
    "Wir benötigen ein Angebot für zwölf Servoantriebe, Liefertermin im zweiten Quartal.",
    "Unsere Förderanlage steht häufiger still als uns lieb ist. Können wir telefonieren?",
]
MESSAGES_GENERAL = [
    "Wir haben Sie auf der {c} gesehen und möchten mehr erfahren.",
    "Interesse an Getriebemotoren für unsere Förderstrecken.",
    "Gibt es Ihre Antriebe auch in Edelstahlausführung für die Lebensmittelindustrie?",
    "",
]
# The story's shares, dealt per lead (DemoSeeder._draw); counts, not percentages.
BEFORE_MATERIAL = {"three_weeks": 11, "in_time": 9, "late": 16, "never": 14}
BEFORE_CALL = {"reached": 19, "never": 181}
BEFORE_DECISION = {"reject_late": 12, "accept_late": 4, "after_call": 84}
AFTER_PRINTED = {"by_due": 42, "by_overdue": 4, "late": 3, "never": 1}
AFTER_CALL = {"in_time": 72, "late": 21, "never": 5, "wrong_number": 2}
AFTER_DECISION = {"accept_review": 13, "after_call": 7}

NEXT_STEP_NOTES = {
    "visit": "Vor-Ort-Termin mit Instandhaltung und Einkauf.",
    "sample": "Mustergetriebe zur Erprobung vereinbart.",
    "offer": "Angebot über die besprochene Ausführung zugesagt.",
    "demo": "Online-Demo der Zustandsüberwachung vereinbart.",
}
BACKLOG_REASON = (
    "Altanfrage aus der Zeit vor LeadBridge, nie nachgefasst; beim Aufräumen geschlossen."
)
REJECT_NOTES = {
    RejectReason.NO_NEED: "Kein aktueller Bedarf, Projekt verschoben.",
    RejectReason.NO_BUDGET: "Budget erst im nächsten Geschäftsjahr.",
    RejectReason.WRONG_CONTACT: "Ansprechpartner ist nicht zuständig, Kontakt liegt beim Einkauf.",
    RejectReason.COMPETITOR: "Wettbewerber, nur Marktbeobachtung.",
    RejectReason.DUPLICATE: "Bereits als Kunde betreut.",
    RejectReason.OTHER: "Passt nicht zu unserem Sortiment.",
}


def _ascii(text: str) -> str:
    text = text.lower()
    for umlaut, plain in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        text = text.replace(umlaut, plain)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def _company_domain(company: str) -> str:
    words = re.sub(
        r"\b(gmbh|ag|kg|co|ohg|kgaa|gbr|stiftung|se|ug|mbh|e\.?\s?k)\b", " ", company.lower()
    )
    # .example (RFC 2606): demo addresses can never reach a real company.
    return f"{_ascii(words)[:40].strip('-') or 'firma'}.example"


@dataclass
class LeadSpec:
    received_at: datetime
    intake_at: datetime
    campaign: Campaign
    data: dict
    keep_open: bool = False  # today's queue: nobody has touched it yet


@dataclass
class LeadPlan:
    """What the demo story intends for one lead, consulted as its actions happen."""

    before: bool
    calendar: BusinessCalendar
    base: datetime  # the earliest moment anyone could act on it: max(received, entered)
    lead: Lead  # as received: team, campaign and contact stay; the owner may not
    decision: str = ""  # accept_review | accept_late | reject_late | after_call | ""
    accept_at: datetime | None = None
    decided: bool = False
    accepted: bool = False
    stage: str = Stage.LEAD  # only the story moves a lead (through the services)
    callback: FollowUp | None = None  # the open call-back the next call is logged on
    forgotten: bool = False  # after the go-live, too: a few slip through (and get escalated)
    material_at: datetime | None = None  # when the material is meant to go out


class Command(BaseCommand):
    help = (
        "Create a demo company with 90 days of leads (before and after LeadBridge), demo users "
        f"marketing/rep/manager/admin with password {DEMO_PASSWORD!r}. DEBUG only; idempotent."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--leads",
            type=int,
            default=DEMO_LEADS,
            help=f"How many leads to create (default {DEMO_LEADS}; at least {QUEUE_LEADS}).",
        )

    def handle(self, *args, leads: int = DEMO_LEADS, **options):
        if not settings.DEBUG:
            raise CommandError(
                "seed_demo creates demo users with a known password; it runs only with DEBUG=true"
            )
        if leads < QUEUE_LEADS:
            raise CommandError(f"--leads must be at least {QUEUE_LEADS} (the reps' queues today)")
        started = wallclock.perf_counter()
        # Digital material is emailed to the lead on dispatch: 45 days of demo
        # history must not go out to anyone when this transaction commits. And
        # with DEBUG on, Django would keep each of the ~25,000 SQL statements in
        # connection.queries, a quarter of the run time.
        quiet = override_settings(
            EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend", DEBUG=False
        )
        with quiet, transaction.atomic():
            if Campaign.objects.filter(name=MARKER_CAMPAIGN, owner__username="marketing").exists():
                self.stdout.write("demo data already present")
                return
            seeder = DemoSeeder(now=timezone.now(), leads=leads, out=self.stdout)
            seeder.run()
        seeder.summary(seconds=wallclock.perf_counter() - started)


class DemoSeeder:
    def __init__(self, *, now: datetime, leads: int, out):
        self.now = now
        # Nothing is done at or after this moment: later plans simply have not happened yet.
        self.limit = now - timedelta(minutes=2)
        today = timezone.localdate(now)
        self.today = today
        self.history_start = datetime.combine(today - timedelta(days=HISTORY_DAYS), time(0), TZ)
        self.go_live = datetime.combine(today - timedelta(days=GO_LIVE_DAYS_AGO), time(7), TZ)
        self.n_leads = leads
        self.out = out
        self.rng = random.Random(SEED)
        self.fake = Faker("de_DE")
        self.fake.seed_instance(SEED)
        self.clock = self.history_start
        self._heap: list = []
        self._seq = itertools.count()
        self.plans: dict[int, LeadPlan] = {}
        self.sweeps = 0
        self.final_sweep = None
        self._created: list[tuple[int, datetime]] = []
        self._created_day: date | None = None
        # Only the sweep moves owners: known here without asking before every step.
        self.owners: dict[int, int | None] = {}
        self.pending: Counter[int] = Counter()  # planned, not yet happened, per lead
        self.closed_backlog = 0
        self._decks: dict[str, list[str]] = {}

    # --- the cast ---------------------------------------------------------------

    def run(self) -> None:
        self.password = make_password(DEMO_PASSWORD)  # hashed once: one slow hash, not twenty
        self.teams = self._teams()
        self.users = self._users()
        self.materials = self._materials()
        self._policies()
        self.campaigns = self._campaigns()
        specs = self._specs()
        self.team_leads = {u.team_id: u for u in User.objects.filter(role=Role.MANAGER)}
        self._schedule(self.go_live, self._close_backlog, True)
        for moment in self._sweep_times():
            self._schedule(moment, self._sweep)
        last_working_day = BusinessCalendar.for_region("DE").previous_working_day(self.today)
        self._schedule(datetime.combine(last_working_day, time(15), TZ), self._close_backlog, False)
        # A day's leads go through the bulk intake together, when the first of them
        # arrives: none of them is due before it arrives, so no sweep or action of
        # that day can tell the difference, and _settle_history dates each lead's
        # routing entry at its own intake.
        for _day, batch in itertools.groupby(specs, key=lambda s: timezone.localdate(s.intake_at)):
            batch = list(batch)
            self._run_until(batch[0].intake_at)
            self._receive(batch)
        self._run_until(self.limit)
        self._flush_created_at()
        self.final_sweep = sweep_overdue(now=timezone.now())
        self._settle_history()

    def _teams(self) -> list[Team]:
        teams = []
        for name, region, prefixes in TEAMS:
            team, _created = Team.objects.get_or_create(name=name, defaults={"region": region})
            teams.append(team)
            for prefix in prefixes:
                RoutingRule.objects.get_or_create(
                    team=team,
                    country="DE",
                    postcode_prefix=prefix,
                    channel="",
                    defaults={"priority": 50},
                )
        for country in ("AT", "CH"):
            RoutingRule.objects.get_or_create(
                team=teams[0],
                country=country,
                postcode_prefix="",
                channel="",
                defaults={"priority": 10},
            )
        # Whatever no rule knows (a foreign postcode, none at all) goes to Nord.
        RoutingRule.objects.get_or_create(
            team=teams[2], country="", postcode_prefix="", channel="", defaults={"priority": 1000}
        )
        return teams

    def _user(self, username: str, first: str, last: str, role: str, team: Team | None, **extra):
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "email": f"{username}@example.com",
                "role": role,
                "team": team,
                "password": self.password,
                "date_joined": self.history_start - timedelta(days=self.rng.randint(30, 900)),
                **extra,
            },
        )
        if not created:
            self.out.write(f"user {username!r} already existed; left as it was")
        return user

    def _users(self) -> dict[str, User]:
        users, self.roster = {}, []
        for username, first, last, role, team_index in DEMO_USERS:
            team = self.teams[team_index] if team_index is not None else None
            extra = {"is_staff": True, "is_superuser": True} if role == Role.ADMIN else {}
            users[username] = self._user(username, first, last, role, team, **extra)
        taken = set(users)
        for index, team in enumerate(self.teams):
            roster = [] if index else [users["manager"], users["rep"]]
            while len(roster) < REPS_PER_TEAM + 1:
                first, last = self.fake.first_name(), self.fake.last_name()
                username = f"{_ascii(first)}.{_ascii(last)}"
                if username in taken:
                    continue
                taken.add(username)
                role = Role.MANAGER if not roster else Role.REP
                roster.append(self._user(username, first, last, role, team))
            self.roster += roster
        self.roster += [users["marketing"], users["admin"]]
        self.people = {user.pk: user for user in self.roster}
        return users

    def _materials(self) -> dict[str, InfoMaterial]:
        materials = {}
        for key, (title, kind, url, description) in MATERIALS.items():
            materials[key], _created = InfoMaterial.objects.get_or_create(
                title=title, kind=kind, defaults={"url": url, "description": description}
            )
        return materials

    def _policies(self) -> None:
        SlaPolicy.objects.get_or_create(channel="", defaults={"name": "Standard"})
        # Fairs: scans arrive in bulk; catalogues and the first call get a day more.
        SlaPolicy.objects.get_or_create(
            channel=Channel.TRADE_FAIR,
            defaults={
                "name": "Messe",
                "callback_due": "2d",
                "material_printed_due": "2d",
                "material_printed_overdue": "3d",
                "decision_due": "2d",
            },
        )

    def _campaigns(self) -> list[tuple[CampaignPlan, Campaign]]:
        result = []
        managers = {u.team_id: u for u in User.objects.filter(role=Role.MANAGER)}
        for plan in CAMPAIGNS:
            starts_on, ends_on = self._campaign_dates(plan)
            if starts_on > self.today:
                status = Campaign.Status.PLANNED
            elif ends_on is not None and ends_on < self.today:
                status = Campaign.Status.ENDED
            else:
                status = Campaign.Status.ACTIVE
            team = self.teams[plan.team] if plan.team is not None else None
            campaign = Campaign.objects.create(
                name=plan.name,
                channel=plan.channel,
                owner=self.users["marketing"],
                status=status,
                starts_on=starts_on,
                ends_on=ends_on,
                budget=Decimal(plan.budget),
                # A plan's response figure is the story's; the leads that come match it.
                expected_responses=(
                    round(plan.expected * self.n_leads / DEMO_LEADS)
                    if plan.share
                    else plan.expected
                ),
                hypothesis=plan.hypothesis,
                team=team,
            )
            campaign.materials.set([self.materials[key] for key in plan.materials])
            launched = datetime.combine(starts_on - timedelta(days=5), time(10), TZ)
            if self.go_live <= launched < self.limit:  # sign-off exists since the go-live
                campaign.signed_off_by = managers.get(
                    team.pk if team else None, self.users["manager"]
                )
                campaign.signed_off_at = launched
                campaign.save(update_fields=["signed_off_by", "signed_off_at"])
            campaign.offered = list(campaign.materials.order_by("pk"))
            result.append((plan, campaign))
        return result

    def _campaign_dates(self, plan: CampaignPlan) -> tuple[date, date | None]:
        starts_on = self.today - timedelta(days=plan.starts)
        if plan.arrivals == "fair":
            # A fair runs Tuesday to Friday of its week (Hannover: Monday to Friday).
            monday = starts_on - timedelta(days=starts_on.weekday())
            first = monday if plan.name == "Hannover Messe" else monday + timedelta(days=1)
            return first, monday + timedelta(days=4)
        ends_on = self.today - timedelta(days=plan.ends) if plan.ends is not None else None
        return starts_on, ends_on

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
            f"{_ascii(first)}.{_ascii(last)}"
            if rng.random() < 0.6
            else f"{_ascii(first)[0]}.{_ascii(last)}"
        )
        title = "Dr. " if rng.random() < 0.06 else ""
        data = {
            "channel": campaign.channel,
            "company": company,
            "contact_name": f"{title}{first} {last}",
            "email": f"{local}@{_company_domain(company)}",
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

    # --- time ---------------------------------------------------------------------

    def _schedule(self, when: datetime, action: Callable, *args, lead: int | None = None) -> None:
        """Plan an action; one that would happen now or later never happens (still open)."""
        when = max(when, self.clock)
        if when >= self.limit:
            return
        heapq.heappush(self._heap, (when, next(self._seq), action, args, lead))
        self.pending[lead] += 1

    def _run_until(self, moment: datetime) -> None:
        while self._heap and self._heap[0][0] <= moment:
            when, _seq, action, args, lead = heapq.heappop(self._heap)
            self.pending[lead] -= 1
            self.clock = when
            action(when, *args)
        self.clock = max(self.clock, moment)

    def _sweep_times(self) -> list[datetime]:
        """From the go-live on: three times a working day.

        Beat really sweeps every minute. Deadlines fall in office hours, so these
        ticks date escalations within a few hours, at a small part of the cost.
        """
        calendar = BusinessCalendar.for_region("DE")
        day, moments = self.go_live.date(), []
        while day <= self.today:
            if calendar.is_working_day(day):
                moments += [datetime.combine(day, time(hour), TZ) for hour in (8, 12, 16)]
            day += timedelta(days=1)
        return [m for m in moments if self.go_live <= m < self.limit]

    def _sweep(self, at: datetime) -> None:
        report = sweep_overdue(now=at)
        self.sweeps += 1
        if report.reassigned:  # the ladder's last step gave leads to other reps
            self.owners.update(
                Lead.objects.filter(source=Source.DEMO).values_list("pk", "owner_id")
            )

    # --- what happens to a lead ---------------------------------------------------

    def _receive(self, specs: list[LeadSpec]) -> None:
        """Receive a batch through the bulk intake, then plan what happens to each lead."""
        results = leads_receive(
            items=[{**spec.data, "campaign": spec.campaign} for spec in specs],
            source=Source.DEMO,
            now=specs[0].intake_at,
        )
        ids = [result.lead.pk for result in results]
        leads = Lead.objects.select_related("team", "campaign", "requested_material").in_bulk(ids)
        followups: dict[int, dict[str, FollowUp]] = {pk: {} for pk in ids}
        for followup in FollowUp.objects.filter(lead_id__in=ids).select_related("policy"):
            followups[followup.lead_id][followup.kind] = followup
        for spec, pk in zip(specs, ids, strict=True):
            self._note_created_at(pk, spec.intake_at)
            if not spec.keep_open:
                self._plan(leads[pk], followups[pk], spec.intake_at)

    def _plan(self, lead: Lead, followups: dict[str, FollowUp], intake_at: datetime) -> None:
        plan = LeadPlan(
            before=lead.received_at < self.go_live,
            calendar=calendar_for(team=lead.team),
            base=max(lead.received_at, intake_at),
            lead=lead,
        )
        plan.forgotten = not plan.before and self.rng.random() < 0.03
        self.plans[lead.pk] = plan
        self.owners[lead.pk] = lead.owner_id
        for followup in followups.values():
            followup.lead = lead
        material = followups.get(FollowUp.Kind.MATERIAL)
        if material is not None and material.completed_at is not None:
            # Digital material with consent went out at intake (leads.intake); the
            # call-back it booked runs from then.
            plan.material_at = material.completed_at
            self._plan_callback(followups[FollowUp.Kind.CALLBACK], plan, start=plan.material_at)
        elif material is not None:
            self._plan_material(material, plan)
        elif FollowUp.Kind.CALLBACK in followups:
            self._plan_callback(followups[FollowUp.Kind.CALLBACK], plan, start=plan.base)
        self._plan_decision(lead, followups.get(FollowUp.Kind.DECISION), plan)

    def _note_created_at(self, lead_id: int, entered: datetime) -> None:
        """Backdate created_at to when the lead was entered, a day's leads at a time.

        rep_for counts a rep's leads of the day by created_at. Today's rows (still
        stamped with the wall clock) count as today; earlier days' rows must carry
        their own date before the next day starts, or capacity would run out.
        """
        day = timezone.localtime(entered).date()
        if self._created_day is not None and day != self._created_day:
            self._flush_created_at()
        self._created_day = day
        self._created.append((lead_id, entered))

    def _flush_created_at(self) -> None:
        if self._created:
            Lead.objects.filter(pk__in=[pk for pk, _at in self._created]).update(
                created_at=Case(*[When(pk=pk, then=Value(at)) for pk, at in self._created])
            )
        self._created = []

    def _minutes(self, plan: LeadPlan, start: datetime, end: datetime) -> int:
        return max(plan.calendar.business_minutes_between(start, end), 0)

    def _draw(self, key: str, outcomes: dict[str, int]) -> str:
        """Like rng.choices, but dealt from a shuffled deck per key.

        The story's shares (22 % after three weeks, 8 % called back...) then
        hold closely for a few hundred leads too, not only on average.
        """
        deck = self._decks.get(key)
        if not deck:
            deck = [outcome for outcome, count in outcomes.items() for _i in range(count)]
            self.rng.shuffle(deck)
            self._decks[key] = deck
        return deck.pop()

    def _plan_material(self, material: FollowUp, plan: LeadPlan) -> None:
        rng, cal, base = self.rng, plan.calendar, plan.base
        printed = material.rule == "material_printed"
        if plan.before:
            outcome = self._draw("material before", BEFORE_MATERIAL)
            if outcome == "three_weeks":  # the field study's three weeks
                at = cal.add_minutes(
                    material.starts_at + timedelta(days=rng.gauss(21, 2)), rng.randint(0, 300)
                )
            elif outcome == "in_time" and printed:
                window = self._minutes(plan, base, material.overdue_at)
                at = cal.add_minutes(base, rng.randint(30, max(31, window - 5)))
            elif outcome == "in_time":  # digital, sent by hand: hours late at best
                at = cal.add_minutes(base, rng.randint(60, 2 * OFFICE_DAY))
            elif outcome == "late":
                at = cal.add_minutes(material.overdue_at, rng.randint(OFFICE_DAY, 10 * OFFICE_DAY))
            else:
                return  # never sent
        elif plan.forgotten:
            return
        elif not printed:  # no consent (a fair scan): a rep sends it, late by design
            at = cal.add_minutes(base, rng.randint(30, 300))
        else:
            due = self._minutes(plan, base, material.due_at)
            overdue = self._minutes(plan, base, material.overdue_at)
            outcome = self._draw("printed after", AFTER_PRINTED)
            if outcome == "by_due":
                at = cal.add_minutes(base, rng.randint(10, max(11, due)))
            elif outcome == "by_overdue":
                at = cal.add_minutes(base, rng.randint(due, max(due + 1, overdue - 5)))
            elif outcome == "late":
                at = cal.add_minutes(material.overdue_at, rng.randint(60, 3 * OFFICE_DAY))
            else:
                return  # still lying on someone's desk
        plan.material_at = at
        self._schedule(at, self._dispatch, material, lead=material.lead_id)

    def _plan_callback(self, callback: FollowUp, plan: LeadPlan, *, start: datetime) -> None:
        """When the calls happen; each is logged on whatever call-back is open by then."""
        rng, cal, lead = self.rng, plan.calendar, plan.lead.pk
        plan.callback = callback
        if plan.forgotten:
            return
        if plan.before:
            # ~8 % of all leads: some never got the material to call after.
            if self._draw("call before", BEFORE_CALL) == "reached":
                at = cal.add_minutes(start, rng.randint(2 * OFFICE_DAY, 12 * OFFICE_DAY))
                self._schedule(at, self._call, lead, CallOutcome.REACHED, lead=lead)
            return
        window = max(self._minutes(plan, start, callback.due_at), 10)
        outcome = self._draw("call after", AFTER_CALL)
        if outcome == "wrong_number":
            at = cal.add_minutes(start, rng.randint(5, window))
            self._schedule(at, self._call, lead, CallOutcome.WRONG_NUMBER, lead=lead)
            return
        if outcome == "in_time":  # most of them early
            at = cal.add_minutes(start, max(3, int(window * min(rng.random(), rng.random()))))
        elif outcome == "late":
            at = cal.add_minutes(callback.due_at, rng.randint(30, 3 * OFFICE_DAY))
        else:  # never reached: tried until the policy gives up and the lead is unreachable
            tried = start
            for _i in range(callback.policy.max_call_attempts):
                tried = cal.add_minutes(tried, rng.randint(60, OFFICE_DAY + 120))
                self._schedule(tried, self._call, lead, CallOutcome.NO_ANSWER, lead=lead)
            return
        for _i in range(rng.choices([0, 1, 2], weights=[70, 22, 8])[0]):
            tried = cal.add_minutes(start, int(self._minutes(plan, start, at) * rng.random()))
            if tried < at:
                self._schedule(tried, self._call, lead, CallOutcome.NO_ANSWER, lead=lead)
        self._schedule(at, self._call, lead, CallOutcome.REACHED, lead=lead)

    def _plan_decision(self, lead: Lead, decision: FollowUp | None, plan: LeadPlan) -> None:
        rng, cal, base = self.rng, plan.calendar, plan.base
        if plan.before:
            plan.decision = self._draw("decision before", BEFORE_DECISION)
            if plan.decision == "reject_late":  # weeks later, usually without a call
                at = cal.add_minutes(base, rng.randint(5 * OFFICE_DAY, 25 * OFFICE_DAY))
                if plan.material_at:  # "we sent them the catalogue, nothing came of it"
                    at = max(at, cal.add_minutes(plan.material_at, OFFICE_DAY))
                reason = self._reason(before=True)
                self._schedule(at, self._decide, lead.pk, Decision.REJECTED, reason, lead=lead.pk)
            elif plan.decision == "accept_late":
                plan.accept_at = cal.add_minutes(base, rng.randint(3 * OFFICE_DAY, 15 * OFFICE_DAY))
                self._schedule(
                    plan.accept_at, self._decide, lead.pk, Decision.ACCEPTED, "", lead=lead.pk
                )
            return
        if plan.forgotten:
            return
        plan.decision = self._draw("decision after", AFTER_DECISION)
        if plan.decision == "accept_review":
            window = self._minutes(plan, base, decision.due_at) if decision else OFFICE_DAY
            minutes = (
                rng.randint(10, max(11, window))
                if rng.random() < 0.9
                else rng.randint(window + 30, window + 2 * OFFICE_DAY)
            )
            plan.accept_at = cal.add_minutes(base, minutes)
            self._schedule(
                plan.accept_at, self._decide, lead.pk, Decision.ACCEPTED, "", lead=lead.pk
            )

    def _reason(self, *, before: bool) -> str:
        reasons = [
            RejectReason.NO_NEED,
            RejectReason.NO_BUDGET,
            RejectReason.WRONG_CONTACT,
            RejectReason.COMPETITOR,
            RejectReason.DUPLICATE,
            RejectReason.OTHER,
        ]
        weights = [4, 2, 2, 1, 1, 2] if before else [5, 3, 2, 2, 1, 1]
        return self.rng.choices(reasons, weights=weights)[0]

    # --- the actions, run in time order ---------------------------------------------

    def _dispatch(self, at: datetime, material: FollowUp) -> None:
        plan = self.plans[material.lead_id]
        if plan.stage in CLOSED_STAGES:  # rejected or closed meanwhile: nothing to send
            return
        lead = self._current(plan)  # the call-back goes to whoever owns the lead now
        callback = material_dispatch(
            followup=material,
            by=self._user_by_pk(lead.owner_id),
            at=at,
            postal=material.rule == "material_printed",
        )
        self._plan_callback(callback, plan, start=at)

    def _call(self, at: datetime, lead_id: int, outcome: str) -> None:
        plan = self.plans[lead_id]
        callback = plan.callback
        if plan.stage != Stage.LEAD or callback is None or callback.completed_at:
            return  # qualified, rejected or closed meanwhile
        callback.lead = self._current(plan)
        booked = call_log(
            followup=callback, by=self._user_by_pk(callback.lead.owner_id), at=at, outcome=outcome
        )
        if outcome == CallOutcome.REACHED:
            self._after_call(at, lead_id)
        elif booked is None:  # wrong number, or out of attempts
            plan.stage = Stage.UNREACHABLE
        else:
            plan.callback = booked  # the next attempt, after the policy's retry time

    def _after_call(self, at: datetime, lead_id: int) -> None:
        rng, plan = self.rng, self.plans[lead_id]
        if plan.decision == "after_call":
            decided = at + timedelta(minutes=rng.randint(3, 25))
            if rng.random() >= (0.6 if plan.before else 0.45):  # the call showed no fit
                reason = self._reason(before=plan.before)
                self._schedule(
                    decided, self._decide, lead_id, Decision.REJECTED, reason, lead=lead_id
                )
                return
            plan.decision, plan.accept_at = "accepted_after_call", decided
            self._schedule(decided, self._decide, lead_id, Decision.ACCEPTED, "", lead=lead_id)
        elif plan.decision not in {"accept_review", "accept_late"}:
            return
        if rng.random() < 0.5:
            agreed = max(at, plan.accept_at) + timedelta(minutes=rng.randint(2, 20))
            self._schedule(agreed, self._qualify, lead_id, lead=lead_id)

    def _decide(self, at: datetime, lead_id: int, decision: str, reason: str) -> None:
        plan = self.plans[lead_id]
        if plan.decided or plan.stage in CLOSED_STAGES:
            return
        lead = self._current(plan)
        lead_decide(
            lead=lead,
            by=self._user_by_pk(lead.owner_id),
            at=at,
            decision=decision,
            reason=reason,
            note=REJECT_NOTES.get(reason, "") if decision == Decision.REJECTED else "",
        )
        plan.decided, plan.accepted = True, decision == Decision.ACCEPTED
        if decision == Decision.REJECTED:
            plan.stage = Stage.REJECTED

    def _qualify(self, at: datetime, lead_id: int) -> None:
        """The call agreed a visit, sample, offer or demo: the lead becomes a prospect."""
        plan = self.plans[lead_id]
        if plan.stage != Stage.LEAD or not plan.accepted:
            return
        rng, cal, lead = self.rng, plan.calendar, self._current(plan)
        day = timezone.localtime(at).date() + timedelta(days=rng.randint(3, 14))
        while not cal.is_working_day(day):
            day += timedelta(days=1)
        due_at = datetime.combine(
            day, rng.choice([time(9), time(10, 30), time(14), time(15, 30)]), TZ
        )
        step = rng.choice(FollowUp.NextStep.values)
        task = lead_qualify(
            lead=lead,
            by=self._user_by_pk(lead.owner_id),
            at=at,
            next_step=step,
            due_at=due_at,
            note=NEXT_STEP_NOTES[step],
        )
        plan.stage = Stage.PROSPECT
        done = max(at + timedelta(hours=1), due_at - timedelta(minutes=rng.randint(0, 120)))
        self._schedule(done, self._next_step_done, lead_id, task, lead=lead_id)

    def _next_step_done(self, at: datetime, lead_id: int, task: FollowUp) -> None:
        plan = self.plans[lead_id]
        if plan.stage != Stage.PROSPECT:
            return
        rep = self._user_by_pk(self.owners[lead_id])
        followup_complete(followup=task, by=rep, at=at, outcome="done")
        r = self.rng.random()
        if r < 0.5:
            self._move(at, lead_id, Stage.PRESALES)
            later = plan.calendar.add_minutes(
                at + timedelta(days=self.rng.randint(10, 35)), self.rng.randint(0, 300)
            )
            self._schedule(later, self._close_deal, lead_id, lead=lead_id)
        elif r < 0.7:
            self._move(at, lead_id, Stage.LOST, "Kein Projekt in diesem Jahr.")

    def _close_deal(self, at: datetime, lead_id: int) -> None:
        if self.plans[lead_id].stage != Stage.PRESALES:
            return
        r = self.rng.random()
        if r < 0.5:
            self._move(at, lead_id, Stage.SALE)
        elif r < 0.75:
            self._move(at, lead_id, Stage.LOST, "Auftrag ging an einen Wettbewerber.")

    def _move(self, at: datetime, lead_id: int, stage: str, reason: str = "", by=None) -> None:
        plan = self.plans[lead_id]
        lead = self._current(plan)
        by = by or self._user_by_pk(lead.owner_id)
        lead_move(lead=lead, by=by, at=at, stage=stage, reason=reason)
        plan.stage = stage

    def _close_backlog(self, at: datetime, only_idle: bool) -> None:
        """Team leads close pre-go-live leads nobody will work on any more (lost, with why).

        At the go-live: those with nothing left in the story; on the last working
        day: whatever of them is still open. Closing is not contact: these leads
        stay "never called" and their material "never sent" on the dashboard.
        """
        stale = [
            pk
            for pk, plan in self.plans.items()
            if plan.before and plan.stage == Stage.LEAD and not (only_idle and self.pending[pk])
        ]
        still_open = FollowUp.objects.open().filter(lead_id__in=stale)
        for lead_id in sorted(set(still_open.values_list("lead_id", flat=True))):
            team_lead = self.team_leads.get(self.plans[lead_id].lead.team_id)
            self._move(at, lead_id, Stage.LOST, BACKLOG_REASON, by=team_lead)
            self.closed_backlog += 1

    # --- bookkeeping --------------------------------------------------------------

    def _user_by_pk(self, pk: int | None) -> User | None:
        if pk is None:
            return None
        if pk not in self.people:
            self.people[pk] = User.objects.get(pk=pk)
        return self.people[pk]

    def _current(self, plan: LeadPlan) -> Lead:
        """The lead as received, with today's owner: the sweep may have reassigned it."""
        plan.lead.owner_id = self.owners[plan.lead.pk]
        return plan.lead

    def _settle_history(self) -> None:
        """Make the bookkeeping columns tell the same time as the story."""
        demo = Lead.objects.filter(source=Source.DEMO)
        # Routing happened when each lead came in (created_at), not when its day's batch did.
        LeadEvent.objects.filter(
            lead__in=demo, kind=LeadEvent.Kind.ASSIGNED, data__by="routing"
        ).update(at=Subquery(Lead.objects.filter(pk=OuterRef("lead_id")).values("created_at")))
        LeadEvent.objects.filter(lead__in=demo).update(created_at=F("at"))
        FollowUp.objects.filter(lead__in=demo).update(created_at=F("starts_at"))
        # The history's notifications were emailed when they happened and the older
        # ones read; left pending, the worker would mail out 45 days at once. The
        # final sweep's notifications stay pending for the worker, as in real life.
        mine = Notification.objects.filter(recipient__in=self.roster)
        mine.filter(created_at__lt=self.limit).update(
            email_state=Notification.EmailState.SENT, emailed_at=F("created_at")
        )
        mine.filter(created_at__lt=self.limit - timedelta(days=1)).update(
            read_at=F("created_at") + timedelta(hours=3)
        )
        # Likewise the digital material of the history went out when it was dispatched.
        MaterialEmail.objects.filter(lead__in=demo, created_at__lt=self.limit).update(
            state=MaterialEmail.State.SENT, sent_at=F("created_at")
        )

    # --- report -------------------------------------------------------------------

    def summary(self, *, seconds: float) -> None:
        now = timezone.now()
        demo = Lead.objects.filter(source=Source.DEMO)
        followups = FollowUp.objects.filter(lead__in=demo)
        mine = FollowUp.objects.open().filter(assignee=self.users["rep"])
        end_of_today = datetime.combine(timezone.localdate(now), time.max, TZ)
        write = self.out.write
        write(
            f"demo data created in {seconds:.1f} s; log in as marketing, rep, manager or admin "
            f"with the password {DEMO_PASSWORD}"
        )
        write(
            f"users {User.objects.count()}, teams {Team.objects.count()}, "
            f"campaigns {Campaign.objects.count()}, leads {demo.count()} "
            f"({demo.filter(requests_material=True).count()} asked for material, "
            f"{self.closed_backlog} pre-go-live leads closed as lost)"
        )
        write(
            f"follow-ups {followups.count()} ({followups.open().count()} open, "
            f"{followups.overdue(now).count()} overdue now), escalations "
            f"{Escalation.objects.filter(followup__lead__in=demo).count()}, notifications "
            f"{Notification.objects.filter(recipient__in=self.roster).count()}; "
            f"{self.sweeps} sweeps since the go-live, the last one: {self.final_sweep}"
        )
        write(
            f"the rep's queue: {mine.overdue(now).count()} overdue, "
            f"{mine.filter(overdue_at__gt=now, due_at__lte=end_of_today).count()} due today, "
            f"{mine.filter(due_at__gt=end_of_today).count()} upcoming"
        )
