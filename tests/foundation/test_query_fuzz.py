"""Hostile query parameters on every web page a signed-in user can open: never a 500.

Each page lists the parameters its view (and the forms it binds to request.GET) reads;
each gets every value of HOSTILE, one at a time, then repeated, then all at once. A new
page fails test_every_web_page_is_fuzzed until it is listed here (or named as one that
takes no GET). The API's query parameters: the last test.
"""

from datetime import UTC, datetime

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

from campaigns.services import opt_in_token
from leads.imports import import_start
from leads.models import RejectReason
from leads.services import lead_decide

from ..api.conftest import api_client
from ..factories import receive_lead
from ..problems import assert_problem

# Every parameter gets each of these, one parameter at a time, the others at a valid value.
HOSTILE = [
    "0001-01-01",
    "9999-12-31",
    "2026-02-30",
    "99999999999999999999999",  # past bigint
    "-1",
    "0",
    "",
    "abc",
    "1\x00",
    "²",  # a digit to str.isdigit(), not to int()
    "9" * 5000,  # past int()'s 4300 digits
]
# And all parameters of a page at once get each of these too.
MORE_HOSTILE = [
    *HOSTILE,
    str(2**63),
    str(2**63 - 1),
    "-99999999999999999999999",
    "\x00",
    "١٢",  # Arabic-Indic digits: int() takes them
    "Ä😀\u202e",
    "x" * 10000,
    "none",
    "1.5",
    " 7 ",
    "2026-11-17T10:00:00+01:00_1",
    "0001-01-01T00:00:00+05:00_1",
    "2026-02-30T10:00:00+01:00_²",
    "9999-12-31T23:59:59-05:00_99999999999999999999999",
]

DASHBOARD = {"start": "2026-01-01", "end": "2026-01-31", "team": "{team}", "channel": "trade_fair"}
QUEUE = {"rep": "{rep}", "kind": "material", "campaign": "{campaign}"}
# name → (path, roles that open it, query parameters it reads with a valid value each
# (None: left out unless it is the one fuzzed), extra headers)
PAGES = {
    "home": ("/", ["manager", "rep", "marketer"], {}, {}),
    "followups:queue": ("/queue/", ["manager", "rep"], QUEUE, {}),
    "followups:queue (htmx more)": (
        "/queue/",
        ["manager"],
        {**QUEUE, "section": "overdue", "after": "2026-11-17T10:00:00+00:00_1"},
        {"HTTP_HX_REQUEST": "true"},
    ),
    "followups:queue (htmx counts)": (
        "/queue/",
        ["manager"],
        {**QUEUE, "counts": "1", "seen": "1-2-3"},
        {"HTTP_HX_REQUEST": "true"},
    ),
    "followups:lead_tasks": (
        "/queue/leads/{lead}/tasks/",
        ["rep"],
        QUEUE,
        {"HTTP_HX_REQUEST": "true"},
    ),
    "reporting:dashboard": ("/dashboard/", ["manager"], {**DASHBOARD, "export": None}, {}),
    "reporting:dashboard_leads": (
        "/dashboard/leads/",
        ["manager"],
        {**DASHBOARD, "metric": "leads", "by": "team", "key": "{team}", "export": None},
        {},
    ),
    "reporting:dashboard_leads (chart bar)": (
        "/dashboard/leads/",
        ["manager"],
        {**DASHBOARD, "metric": "overdue_now", "ageing": "2", "stage": "prospect"},
        {},
    ),
    "followups:notifications": ("/notifications/", ["rep"], {}, {}),
    "followups:bell": ("/notifications/bell/", ["rep"], {}, {}),
    "campaigns:list": (
        "/campaigns/",
        ["marketer"],
        {
            "channel": "trade_fair",
            "status": "active",
            "start": "2026-01-01",
            "end": "2026-12-31",
            "owner": "{marketer}",
            "signoff": "signed",
        },
        {},
    ),
    "campaigns:create": ("/campaigns/new/", ["marketer"], {}, {}),
    "campaigns:detail": ("/campaigns/{campaign}/", ["marketer"], {"page": "1"}, {}),
    "campaigns:edit": ("/campaigns/{campaign}/edit/", ["marketer"], {}, {}),
    "campaigns:signoff": ("/campaigns/{campaign}/signoff/", ["manager"], {"team": "{team}"}, {}),
    "campaigns:leads_csv": ("/campaigns/{campaign}/leads.csv", ["marketer"], {}, {}),
    "campaigns:import_upload": ("/campaigns/{campaign}/import/", ["marketer"], {}, {}),
    "campaigns:import_detail": ("/campaigns/imports/{job}/", ["marketer"], {}, {}),
    "campaigns:import_progress": ("/campaigns/imports/{job}/progress/", ["marketer"], {}, {}),
    "campaigns:import_report": ("/campaigns/imports/{job}/report.csv", ["marketer"], {}, {}),
    "campaigns:lead_new": ("/campaigns/leads/new/", ["marketer"], {"campaign": "{campaign}"}, {}),
    "campaigns:nurture": (
        "/campaigns/nurturing/",
        ["marketer"],
        {"campaign": "{campaign}", "reason": "no_budget", "format": None, "page": "1"},
        {},
    ),
    "leads:detail": ("/leads/{lead}/", ["manager", "rep"], {}, {}),
    "integrations:list": ("/integrations/", ["marketer"], {}, {}),
    "privacy:search": ("/privacy/", ["manager"], {"email": "no@example.com", "lead": "{lead}"}, {}),
    "privacy:export": (
        "/privacy/export/",
        ["manager"],
        {"email": "no@example.com", "lead": None, "format": "json"},
        {},
    ),
    "webform:form": ("/f/{key}/", ["anonymous"], {"lang": "de"}, {}),
    "webform:thanks": ("/f/{key}/thanks/", ["anonymous"], {"lang": "de", "t": None}, {}),
    "webform:embed": ("/f/{key}/embed/", ["anonymous"], {"lang": "de"}, {}),
    "webform:embed_thanks": (
        "/f/{key}/embed/thanks/",
        ["anonymous"],
        {"lang": "de", "t": None},
        {},
    ),
    "webform:opt_in": ("/f/opt-in/{opt_in}/", ["anonymous"], {"lang": "de"}, {}),
}
# Pages that answer only POST (they read no query parameters).
POST_ONLY = {
    "campaigns:activate",
    "campaigns:signoff_request",
    "campaigns:signoff_return",
    "campaigns:end",
    "leads:decide",
    "leads:qualify",
    "leads:move",
    "leads:note",
    "leads:reassign",
    "followups:dispatch",
    "followups:call",
    "followups:complete",
    "followups:notifications_read",
    "integrations:token_add",
    "integrations:token_revoke",
    "integrations:subscription_add",
    "integrations:subscription_toggle",
    "integrations:subscription_delete",
    "integrations:delivery_retry",
    "privacy:erase",
    "integrations:subscription_ping",
    "integrations:subscription_rotate",
    "integrations:integration_token_add",
    "integrations:integration_token_revoke",
}
# Not pages of the app: Django's own (admin, log-in, language switch), the API (the
# last test), the health check.
NOT_HERE = {"login", "logout", "set_language", "healthz"}


def _names(resolver=None, namespace="") -> set[str]:
    names = set()
    for entry in (resolver or get_resolver()).url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace in {"admin", "api"}:
                continue
            inner = f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            names |= _names(entry, inner)
        elif isinstance(entry, URLPattern) and entry.name:
            names.add(f"{namespace}{entry.name}")
    return names


def test_every_web_page_is_fuzzed():
    listed = {name.split(" ")[0] for name in PAGES}
    assert _names() - listed - POST_ONLY - NOT_HERE == set()


@pytest.fixture
def world(campaign, rep, manager, marketer, second_rep, team):
    now = datetime.now(UTC)
    # Asked for marketing emails: its opt-in link (webform:opt_in) is a valid one.
    lead = receive_lead(campaign=campaign, now=now, marketing_consent_requested_at=now)
    rejected = receive_lead(campaign=campaign, now=now, email="no@example.com")
    lead_decide(lead=rejected, by=rep, at=now, decision="rejected", reason=RejectReason.values[0])
    job = import_start(
        campaign=campaign,
        name="scan.csv",
        data=b"Name;E-Mail;Datum\nAnna;a@example.com;01.03.2026\n",
        by=marketer,
        now=now,
    )
    return {
        "campaign": campaign.pk,
        "lead": lead.pk,
        "job": job.pk,
        "key": campaign.form_key,
        "opt_in": opt_in_token(lead=lead),
        "team": team.pk,
        "rep": rep.pk,
        "marketer": marketer.pk,
        "users": {"manager": manager, "rep": rep, "marketer": marketer},
    }


def _get(client, path, query, headers):
    response = client.get(path, query, **headers)
    assert response.status_code < 500, (path, query, response.status_code)
    return response


@pytest.mark.django_db
@pytest.mark.parametrize("page", [name for name, spec in PAGES.items() if spec[2]])
def test_hostile_query_parameters_never_make_a_web_page_fail(page, world, client):
    path, roles, params, headers = PAGES[page]
    path = path.format(**world)
    valid = {name: value.format(**world) for name, value in params.items() if value is not None}
    for number, role in enumerate(roles):
        if role != "anonymous":
            client.force_login(world["users"][role])
        assert _get(client, path, valid, headers).status_code == 200, (page, role)
        for value in MORE_HOSTILE:
            _get(client, path, dict.fromkeys(params, value), headers)
        if number:  # one parameter at a time: as the first role (the others read the same)
            continue
        for name in params:
            for value in HOSTILE:
                _get(client, path, {**valid, name: value}, headers)
            _get(client, path, {**valid, name: [valid.get(name, "1"), "2", "abc"]}, headers)


@pytest.mark.django_db
@pytest.mark.parametrize("page", [name for name, spec in PAGES.items() if not spec[2]])
def test_pages_without_parameters_ignore_hostile_ones(page, world, client):
    path, roles, _params, headers = PAGES[page]
    path = path.format(**world)
    for role in roles:
        if role != "anonymous":
            client.force_login(world["users"][role])
        assert _get(client, path, {}, headers).status_code in {200, 302}, (page, role)
        _get(client, path, {"page": "9" * 5000, "x": "\x00", "start": "0001-01-01"}, headers)


API_PARAMS = {
    "/api/v1/dashboard/": ["start", "end", "team", "campaign", "channel", "by"],
    "/api/v1/leads/": [
        *["campaign", "stage", "owner", "team", "channel", "source", "decision", "external_id"],
        *["received_after", "received_before", "ordering", "page_size", "cursor"],
        *["updated_after", "email", "with_count"],
    ],
    "/api/v1/followups/": [
        *["state", "due_before", "due_after", "campaign", "lead", "kind", "assignee"],
        *["escalation_level", "ordering", "page_size", "cursor"],
    ],
    "/api/v1/campaigns/": ["status", "channel", "team", "owner", "ordering", "page_size"],
}


@pytest.mark.django_db
@pytest.mark.parametrize("path", list(API_PARAMS))
def test_hostile_query_parameters_on_the_api_are_4xx_in_its_error_shape(path, world, manager):
    api = api_client(manager)
    assert api.get(path).status_code == 200
    for name in API_PARAMS[path]:
        for value in MORE_HOSTILE:
            answer = api.get(path, {name: value})
            assert answer.status_code < 500, (path, name, value, answer.status_code)
            if answer.status_code >= 400:
                assert_problem(answer, answer.status_code)
