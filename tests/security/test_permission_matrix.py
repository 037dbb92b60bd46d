"""Role × URL matrix: every URL pattern of the project, web and API, as anonymous,
marketing, rep A, rep B (another team) and team lead B, against team A's objects.

For each pattern, GET and POST (and PUT/PATCH/DELETE where an API view offers them):
- a role the table allows gets through (no 401/403/404/405, no log-in redirect);
- a role it does not allow is turned away (401/403/404/405 or the log-in page);
- whatever the answer, team A's rows are unchanged unless the table says this role
  may change them with this request, and no response shows anyone data the role may
  not read (team A's lead to outsiders, rep A's token and webhook to anyone else).

The table is keyed by URL name (unnamed patterns by their route): a pattern missing
from it fails test_every_url_pattern_has_a_matrix_entry, so a new URL needs a row.
The admin's own URLs are covered as a namespace: every one of them is staff-only
(AdminSite.admin_view), which test_the_admin_is_closed_to_every_role checks on each.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from accounts.models import Role
from campaigns.models import Campaign, InfoMaterial
from campaigns.services import opt_in_token
from followups.models import FollowUp, Notification
from integrations.models import ApiToken, Event, WebhookDelivery, WebhookSubscription
from integrations.services import token_create, webhook_subscription_create
from leads.imports import import_start
from leads.models import ImportJob, Lead, LeadEvent

from ..factories import CampaignFactory, UserFactory, receive_lead

ROLES = ("anon", "rep_b", "manager_b", "marketing", "rep_a")  # outsiders first
EVERYONE = frozenset(ROLES)
SIGNED_IN = EVERYONE - {"anon"}
NOBODY = frozenset()
M = frozenset({"marketing"})
RA = frozenset({"rep_a"})
M_RA = M | RA
SALES = frozenset({"rep_a", "rep_b", "manager_b"})
MB = frozenset({"manager_b"})

# What only some may read: team A's lead (marketing sees every lead) and rep A's own
# integration set-up (nobody else's business, not even marketing's).
LEAD_SECRETS = ("Agathe Geheim", "agathe.geheim@team-a.example")
OWN_SECRETS = ("Token-of-Rep-A", "Hook-of-Rep-A", "hooks.team-a.example")
HIDDEN = {
    "anon": LEAD_SECRETS + OWN_SECRETS,
    "rep_b": LEAD_SECRETS + OWN_SECRETS,
    "manager_b": LEAD_SECRETS + OWN_SECRETS,
    "marketing": OWN_SECRETS,
    "rep_a": (),
}


@dataclass(frozen=True)
class Rule:
    get: frozenset = NOBODY  # who may GET
    post: frozenset = NOBODY  # who may POST
    put: frozenset = NOBODY
    patch: frozenset = NOBODY
    delete: frozenset = NOBODY
    obj: str | None = None  # which of team A's objects the URL names
    changes: frozenset = NOBODY  # who may change team A's rows through it
    body: dict = field(default_factory=dict)  # what a write sends (names resolved in _body)
    public: bool = False  # no log-in needed; anyone may GET and POST

    def allowed(self, method: str) -> frozenset:
        return EVERYONE if self.public else getattr(self, method)


def public(**kwargs) -> Rule:
    return Rule(public=True, **kwargs)


def read(roles=SIGNED_IN, **kwargs) -> Rule:
    """A page that only shows: POST renders it too (or answers 405), never writes."""
    kwargs.setdefault("post", roles)
    return Rule(get=roles, **kwargs)


MATRIX: dict[str, Rule] = {
    # --- public ---------------------------------------------------------------------
    "home": read(),  # a redirect to the role's landing page
    "healthz": public(),
    "login": public(),
    "logout": public(),
    "set_language": public(),
    "webform:form": public(obj="form_key"),
    "webform:thanks": public(obj="form_key"),
    "webform:embed": public(obj="form_key"),
    "webform:embed_thanks": public(obj="form_key"),
    # A capability link: team A's lead never asked for marketing emails, so it is refused.
    "webform:opt_in": public(obj="opt_in_token"),
    "api:schema": public(),
    "api:docs": public(),
    "api:problem-type": public(obj="problem_code"),  # what a problem's `type` URI means
    "api:token-obtain": public(body={"username": "rita", "password": "wrong"}),
    r"api:<unnamed ^[\s\S]*$>": public(),  # the API's JSON 404 for any other path
    # --- campaigns: read by every signed-in user, planned by marketing -----------------
    "campaigns:list": read(),
    "campaigns:create": Rule(get=M, post=M),
    "campaigns:detail": read(obj="campaign"),
    "campaigns:edit": Rule(get=M, post=M, obj="campaign", changes=M),
    # V1: only team A's lead (or an administrator) signs team A's plan.
    "campaigns:signoff": Rule(obj="campaign", body={"team": "team_b", "warning_seen": "on"}),
    # Marketing asks team A's lead to sign (a planned plan; an active one is refused).
    "campaigns:signoff_request": Rule(post=M, obj="campaign", changes=M),
    # Only team A's lead (or an administrator) sends team A's plan back.
    "campaigns:signoff_return": Rule(obj="campaign", body={"comment": "not like this"}),
    # V5: marketing may launch (the service wants a sign-off first); team lead B may not.
    "campaigns:activate": Rule(post=M, obj="campaign", body={"override_reason": "takeover"}),
    "campaigns:end": Rule(post=M, obj="campaign", changes=M),
    "campaigns:leads_csv": read(M, obj="campaign"),
    "campaigns:import_upload": Rule(get=M, post=M, obj="campaign"),
    "campaigns:import_detail": Rule(get=M, post=M, obj="import", changes=M),
    "campaigns:import_progress": read(M, obj="import"),
    "campaigns:import_report": read(M, obj="import"),
    "campaigns:lead_new": Rule(get=SIGNED_IN, post=SIGNED_IN),
    "campaigns:nurture": read(M),
    # --- leads: team A's lead is rep A's (and marketing's to read) ----------------------
    "leads:detail": read(M_RA, obj="lead"),
    "leads:decide": Rule(
        post=RA, obj="lead", changes=RA, body={"decision": "rejected", "reason": "no_budget"}
    ),
    "leads:qualify": Rule(post=RA, obj="lead", changes=RA, body={"next_step": "visit"}),
    "leads:move": Rule(
        post=RA, obj="lead", changes=RA, body={"stage": "disqualified", "reason": "spam"}
    ),
    # Anyone who sees the lead may note on its timeline (marketing too).
    "leads:note": Rule(post=M_RA, obj="lead", changes=M_RA, body={"text": "written by someone"}),
    # Team lead B may reassign, but only their own team's leads.
    "leads:reassign": Rule(post=frozenset({"manager_b"}), body={"leads": "lead", "to": "rep_b"}),
    # --- follow-ups, queue, dashboards, notifications ---------------------------------------
    "followups:queue": read(SALES),
    "followups:lead_tasks": Rule(get=RA, obj="lead"),  # a queue row's other tasks (GET only)
    "followups:dispatch": Rule(post=RA, obj="followup", changes=RA),
    "followups:call": Rule(post=RA, obj="followup", changes=RA, body={"outcome": "reached"}),
    "followups:complete": Rule(post=RA, obj="followup", changes=RA),
    "reporting:dashboard": read(),
    "reporting:dashboard_leads": read(),
    "followups:notifications": read(),
    "followups:notifications_read": Rule(post=SIGNED_IN, changes=RA, body={"id": "notification"}),
    "followups:bell": read(),
    # --- integrations (web): each user's own tokens and webhooks ---------------------------
    "integrations:list": read(),
    "integrations:token_add": Rule(post=SIGNED_IN),  # a token of one's own
    "integrations:token_revoke": Rule(post=RA, obj="token", changes=RA),
    "integrations:subscription_add": Rule(post=SIGNED_IN),
    "integrations:subscription_toggle": Rule(post=RA, obj="webhook", changes=RA),
    "integrations:subscription_delete": Rule(post=RA, obj="webhook", changes=RA),
    "integrations:delivery_retry": Rule(post=RA, obj="delivery", changes=RA),
    # --- data privacy: team leads (their team's leads) and administrators ------------------
    # Team lead B may open the page and ask; team A's lead stays out of reach (nothing
    # shows it, nothing changes it: tests/privacy/test_privacy_access.py names it).
    "privacy:search": Rule(get=MB),
    "privacy:export": Rule(get=MB),
    "privacy:erase": Rule(post=MB),
    # A test delivery is a new row of one's own; rotating changes the subscription.
    "integrations:subscription_ping": Rule(post=RA, obj="webhook"),
    "integrations:subscription_rotate": Rule(post=RA, obj="webhook", changes=RA),
    # Integration tokens: administrators only (none of these roles).
    "integrations:integration_token_add": Rule(body={"name": "ERP", "role": "marketing"}),
    "integrations:integration_token_revoke": Rule(obj="token"),
    # --- API ------------------------------------------------------------------------
    "api:dashboard": Rule(get=SIGNED_IN),
    "api:campaign-list": Rule(get=SIGNED_IN, post=M),
    # V2: a plan change by marketing goes through the service (and withdraws a sign-off).
    "api:campaign-detail": Rule(
        get=SIGNED_IN, put=M, patch=M, obj="campaign", changes=M, body={"team": "team_b"}
    ),
    "api:material-list": Rule(get=SIGNED_IN, post=M),
    "api:material-detail": Rule(
        get=SIGNED_IN, put=M, patch=M, obj="material", changes=M, body={"title": "Renamed"}
    ),
    # Anyone signed in may send leads; V3: merging into team A's lead is not among it.
    "api:lead-list": Rule(get=SIGNED_IN, post=SIGNED_IN, body={"intake": "duplicate"}),
    "api:lead-bulk": Rule(post=SIGNED_IN, body={"intake": "bulk-duplicate"}),
    # Reassigning takes a team lead of the lead's team: none of these roles.
    "api:lead-detail": Rule(get=M_RA, obj="lead", body={"owner": "rep_b"}),
    "api:lead-timeline": Rule(get=M_RA, obj="lead"),
    "api:followup-list": Rule(get=SIGNED_IN),
    "api:followup-detail": Rule(get=M_RA, obj="followup"),
    "api:followup-accept": Rule(post=RA, obj="followup", changes=RA),
    "api:followup-call": Rule(post=RA, obj="followup", changes=RA, body={"outcome": "reached"}),
    "api:followup-complete": Rule(post=RA, obj="followup", changes=RA),
    "api:followup-qualify": Rule(post=RA, obj="followup", changes=RA),
    "api:followup-reject": Rule(post=RA, obj="followup", changes=RA, body={"reason": "no_budget"}),
    "api:followup-dispatch": Rule(post=RA, obj="followup", changes=RA),
    "api:team-list": Rule(get=SIGNED_IN),
    "api:team-detail": Rule(get=M_RA, obj="team"),  # reps and leads see their own team
    "api:user-list": Rule(get=SIGNED_IN),
    "api:user-me": Rule(get=SIGNED_IN),
    "api:user-detail": Rule(get=M_RA, obj="rep_a"),
    "api:token-list": Rule(get=SIGNED_IN),
    "api:token-detail": Rule(get=RA, obj="token"),
    "api:token-revoke": Rule(post=RA, obj="token", changes=RA),
    "api:webhook-list": Rule(get=SIGNED_IN, post=SIGNED_IN),
    "api:webhook-detail": Rule(
        get=RA, put=RA, patch=RA, delete=RA, obj="webhook", changes=RA, body={"name": "Mine"}
    ),
    "api:webhook-ping": Rule(post=RA, obj="webhook"),
    "api:webhook-rotate-secret": Rule(post=RA, obj="webhook", changes=RA),
    "api:integration-token-list": Rule(body={"name": "ERP", "scopes": ["read"]}),
    "api:integration-token-detail": Rule(obj="token"),
    "api:integration-token-revoke": Rule(obj="token"),
    "api:webhook-delivery-list": Rule(get=SIGNED_IN),
    "api:webhook-delivery-detail": Rule(get=RA, obj="delivery"),
    "api:webhook-delivery-retry": Rule(post=RA, obj="delivery", changes=RA),
    "api:privacy-export": Rule(get=MB),
    "api:privacy-erase": Rule(post=MB),
}

# The admin's log-in, and its log-out (which sends a non-staff user to the admin's index).
ADMIN_PUBLIC = {"admin:login", "admin:logout"}


# --- walking the URLconf ---------------------------------------------------------------


@dataclass
class Route:
    key: str
    name: str | None
    route: str
    pattern: URLPattern

    @property
    def write_methods(self) -> list[str]:
        """POST, and what else the view offers (DRF viewsets' actions, APIView handlers)."""
        callback = self.pattern.callback
        offered = set()
        if getattr(callback, "actions", None):
            offered = set(callback.actions)
        elif getattr(callback, "cls", None) is not None:
            offered = {m for m in ("put", "patch", "delete") if hasattr(callback.cls, m)}
        return ["post", *(m for m in ("put", "patch", "delete") if m in offered)]


def _walk(patterns, prefix: str = "", namespace: str | None = None):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            inner = entry.namespace or None
            space = f"{namespace}:{inner}" if namespace and inner else (inner or namespace)
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), space)
        else:
            route = prefix + str(entry.pattern)
            if entry.name:
                name = f"{namespace}:{entry.name}" if namespace else entry.name
                key = name
            else:
                name = None
                key = f"{namespace + ':' if namespace else ''}<unnamed {entry.pattern}>"
            yield Route(key, name, route, entry)


ROUTES = list(_walk(get_resolver().url_patterns))
APP_ROUTES = [r for r in ROUTES if not r.key.startswith("admin:")]
ADMIN_ROUTES = [r for r in ROUTES if r.key.startswith("admin:")]


def test_every_url_pattern_has_a_matrix_entry():
    keys = {route.key for route in APP_ROUTES}
    assert sorted(keys - MATRIX.keys()) == [], "URL patterns without a row in MATRIX"
    assert sorted(MATRIX.keys() - keys) == [], "MATRIX rows for URL patterns that are gone"
    assert len(ADMIN_ROUTES) > 20  # the admin is there, and covered below


# --- the world: two teams, team A's objects ----------------------------------------------


@pytest.fixture
def world(db, team, other_team, rep, other_team_rep, marketer, printed_brochure, settings):
    settings.LEADBRIDGE_THROTTLE_CACHE = "default"
    settings.LEADBRIDGE_WEBFORM_CACHE = "default"
    settings.LEADBRIDGE_WEBHOOK_PRIVATE_TARGETS = True  # no DNS look-ups in tests
    now = timezone.now()
    manager_b = UserFactory(username="nina", role=Role.MANAGER, team=other_team)
    campaign = CampaignFactory(
        name="Messe A", owner=marketer, team=team, materials=[printed_brochure]
    )
    lead = receive_lead(
        campaign=campaign,
        contact_name=LEAD_SECRETS[0],
        email=LEAD_SECRETS[1],
        phone="",
        requests_material=True,
        wants_call=True,
    )
    assert lead.team == team and lead.owner == rep
    followup = lead.followups.filter(completed_at__isnull=True).order_by("pk").first()
    job = import_start(
        campaign=campaign,
        name="scans.csv",
        data=b"name,email\nAnna Import,anna@import.example\n",
        by=marketer,
        now=now,
    )
    token = token_create(user=rep, name=OWN_SECRETS[0], scopes=None).token
    webhook = webhook_subscription_create(
        user=rep,
        name=OWN_SECRETS[1],
        url=f"https://{OWN_SECRETS[2]}/in",
        events=[Event.LEAD_CREATED],
    )
    delivery = WebhookDelivery.objects.create(
        subscription=webhook,
        event=Event.LEAD_CREATED,
        subject=f"lead:{lead.pk}",
        lead=lead,
        occurred_at=now,
        status=WebhookDelivery.Status.FAILED,
        attempts=3,
    )
    notification = Notification.objects.create(
        recipient=rep, kind=Notification.Kind.OVERDUE, lead=lead, followup=followup, created_at=now
    )
    return {
        "users": {
            "marketing": marketer,
            "rep_a": rep,
            "rep_b": other_team_rep,
            "manager_b": manager_b,
        },
        "campaign": campaign,
        "form_key": campaign.form_key,
        "opt_in_token": opt_in_token(lead=lead),
        "problem_code": "invalid",
        "material": printed_brochure,
        "lead": lead,
        "followup": followup,
        "import": job,
        "token": token,
        "webhook": webhook,
        "delivery": delivery,
        "notification": notification,
        "team": team,
        "team_b": other_team,
        "rep_a": rep,
        "rep_b": other_team_rep,
    }


def _team_a_state(world) -> str:
    """A fingerprint of team A's rows: the campaign, lead, its follow-ups and timeline,
    the import, and rep A's token, webhook, deliveries and notifications."""
    lead = world["lead"]
    parts = [
        Campaign.objects.filter(pk=world["campaign"].pk),
        InfoMaterial.objects.filter(pk=world["material"].pk),
        Lead.objects.filter(pk=lead.pk),
        FollowUp.objects.filter(lead=lead),
        LeadEvent.objects.filter(lead=lead),
        ImportJob.objects.filter(pk=world["import"].pk),
        ApiToken.objects.filter(pk=world["token"].pk),
        WebhookSubscription.objects.filter(pk=world["webhook"].pk),
        WebhookDelivery.objects.filter(pk=world["delivery"].pk),
        Notification.objects.filter(pk=world["notification"].pk),
    ]
    rows = [list(qs.order_by("pk").values()) for qs in parts]
    for row in rows[6]:
        row.pop("last_used_at", None)
    return hashlib.sha256(json.dumps(rows, default=str, sort_keys=True).encode()).hexdigest()


def _fill(route: Route, rule: Rule, world) -> str:
    """The URL of the pattern, naming team A's object."""
    value = world[rule.obj] if rule.obj else None
    value = getattr(value, "pk", value)
    if route.name is None:
        return "/api/v1/no-such-thing/" if route.key.startswith("api:") else "/"
    kwargs = {}
    for key in route.pattern.pattern.regex.groupindex:
        kwargs[key] = value
    return reverse(route.name, kwargs=kwargs)


def _body(rule: Rule, world, *, api: bool) -> dict:
    intake = rule.body.get("intake")
    if intake:
        lead = {
            "campaign": world["campaign"].pk,
            "contact_name": "Somebody Else",
            "email": LEAD_SECRETS[1],  # team A's contact: a duplicate of team A's lead
            "phone": "+49 40 999999",
            "street": "Hafenstraße 1",
        }
        if intake == "bulk-duplicate":
            return {"on_duplicate": "merge", "leads": [lead]}
        return {**lead, "on_duplicate": "merge"}
    body = {}
    for key, value in rule.body.items():
        if isinstance(value, str) and value in world and key != "text":
            item = world[value]
            value = item.pk if hasattr(item, "pk") else item
            if key in {"leads", "id"} and not api:
                value = [value]
        body[key] = value
    return body


def _client(role: str, world) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    if role != "anon":
        client.force_login(world["users"][role])
    return client


def _request(client, method: str, url: str, body: dict, *, api: bool):
    if method == "get":
        return client.get(url)
    if api:
        return getattr(client, method)(url, json.dumps(body), content_type="application/json")
    return client.post(url, body) if method == "post" else getattr(client, method)(url)


def _turned_away(response) -> bool:
    if response.status_code in {401, 403, 404, 405}:
        return True
    return response.status_code == 302 and "login" in response.get("Location", "")


def _content(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode("utf-8", "replace")
    return response.content.decode("utf-8", "replace")


@pytest.mark.django_db
@pytest.mark.parametrize("route", APP_ROUTES, ids=[r.key for r in APP_ROUTES])
def test_each_role_gets_what_the_matrix_allows_and_no_more(route, world):
    rule = MATRIX[route.key]
    api = route.route.startswith("api/")
    url = _fill(route, rule, world)
    problems = []
    for role in ROLES:
        client = _client(role, world)
        for method in ["get", *route.write_methods]:
            body = {} if method == "get" else _body(rule, world, api=api)
            before = _team_a_state(world)
            response = _request(client, method, url, body, api=api)
            after = _team_a_state(world)
            status = response.status_code
            where = f"{role} {method.upper()} {url} → {status}"
            if status >= 500:
                problems.append(f"{where}: server error")
            allowed = role in rule.allowed(method)
            if rule.public:
                pass  # anyone may ask; what matters is no error, no write, no secret
            elif allowed and _turned_away(response):
                problems.append(f"{where}: turned away, the matrix allows it")
            elif not allowed and not _turned_away(response):
                problems.append(f"{where}: let through, the matrix does not allow it")
            if before != after and role not in rule.changes:
                problems.append(f"{where}: changed team A's rows")
            text, sent = _content(response), json.dumps(body, ensure_ascii=False)
            # (What the request sent itself may be echoed: it is the sender's own.)
            problems += [
                f"{where}: shows {s!r}" for s in HIDDEN[role] if s in text and s not in sent
            ]
    assert not problems, "\n".join(problems)


@pytest.mark.django_db
def test_the_admin_is_closed_to_every_role(world):
    """Every admin URL (staff only): the admin's log-in page for each of these roles."""
    problems = []
    clients = {role: _client(role, world) for role in ROLES}
    before = _team_a_state(world)
    for route in ADMIN_ROUTES:
        path = "/" + re.sub(r"<[^>]+>|\(\?P<\w+>[^)]*\)|\$|\^", "1", route.route)
        for role, client in clients.items():
            for method in ("get", "post"):
                response = getattr(client, method)(path)
                where = f"{role} {method.upper()} {path} → {response.status_code}"
                if route.key in ADMIN_PUBLIC:
                    ok = response.status_code < 500
                else:
                    ok = response.status_code in {302, 403, 404} and (
                        response.status_code != 302 or "/admin/login/" in response["Location"]
                    )
                if not ok:
                    problems.append(where)
    assert not problems, "\n".join(problems)
    assert _team_a_state(world) == before
