"""The demo company's story in numbers: teams, places, campaigns, what people ask for,
how often things went wrong before the go-live and after (leads.demo.seeder plays it)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import datetime

from accounts.models import Role
from campaigns.models import Campaign, Channel, InfoMaterial
from followups.models import FollowUp
from leadbridge.calendar import BusinessCalendar
from leads.models import (
    Lead,
    RejectReason,
    Stage,
)

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


def ascii_fold(text: str) -> str:
    text = text.lower()
    for umlaut, plain in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        text = text.replace(umlaut, plain)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def company_domain(company: str) -> str:
    words = re.sub(
        r"\b(gmbh|ag|kg|co|ohg|kgaa|gbr|stiftung|se|ug|mbh|e\.?\s?k)\b", " ", company.lower()
    )
    # .example (RFC 2606): demo addresses can never reach a real company.
    return f"{ascii_fold(words)[:40].strip('-') or 'firma'}.example"


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
