"""Every error of the API is an RFC 9457 problem, valid against the schema's Problem component."""

import pytest
from django.db import OperationalError
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from rest_framework.test import APIClient

from integrations.models import Scope
from leads.api import LeadViewSet
from leads.models import Lead

from ..problems import assert_problem, error_fields, error_messages
from .conftest import api_client, lead_payload


@pytest.fixture
def problem_validator(db):
    schema = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    components = schema.json()["components"]
    return OAS30Validator(
        {"$ref": "#/components/schemas/Problem", "components": components},
        format_checker=oas30_format_checker,
    )


def _check(validator, answer, status: int, code: str) -> dict:
    body = assert_problem(answer, status, code)
    validator.validate(body)
    assert body["instance"] == answer.wsgi_request.path
    return body


@pytest.mark.django_db
def test_each_error_status_answers_a_problem_valid_against_the_schema(
    problem_validator, marketing_api, rep_api, rep, campaign, settings, monkeypatch
):
    check = lambda answer, status, code: _check(problem_validator, answer, status, code)  # noqa: E731

    invalid = check(
        marketing_api.post(
            "/api/v1/leads/", lead_payload(campaign, email="nope", surprise=1), format="json"
        ),
        400,
        "invalid",
    )
    assert {(e["field"], e["code"]) for e in invalid["errors"]} == {
        ("email", "invalid"),
        ("surprise", "unknown_field"),
    }
    check(APIClient().get("/api/v1/leads/"), 401, "not_authenticated")
    check(
        api_client(rep, scopes=[Scope.READ]).post(
            "/api/v1/leads/", lead_payload(campaign), format="json"
        ),
        403,
        "permission_denied",
    )
    forbidden = check(
        rep_api.post("/api/v1/leads/", lead_payload(campaign, owner=rep.pk), format="json"),
        403,
        "permission_denied",
    )
    assert [(e["field"], e["code"]) for e in forbidden["errors"]] == [("owner", "not_allowed")]
    check(marketing_api.get("/api/v1/leads/999999/"), 404, "not_found")
    check(marketing_api.get("/api/v1/no-such-thing/"), 404, "not_found")  # the URL catch-all
    check(marketing_api.delete("/api/v1/leads/"), 405, "method_not_allowed")
    check(marketing_api.get("/api/v1/leads/", HTTP_ACCEPT="text/html"), 406, "not_acceptable")
    check(
        marketing_api.post("/api/v1/leads/", "x", content_type="text/plain"),
        415,
        "unsupported_media_type",
    )
    marketing_api.post(
        "/api/v1/leads/", lead_payload(campaign), format="json", HTTP_IDEMPOTENCY_KEY="k"
    )
    check(
        marketing_api.post(
            "/api/v1/leads/",
            lead_payload(campaign, company="Other"),
            format="json",
            HTTP_IDEMPOTENCY_KEY="k",
        ),
        422,
        "idempotency_key_reused",
    )
    settings.LEADBRIDGE_API_MAX_BODY = 2000
    check(
        marketing_api.post(
            "/api/v1/leads/", lead_payload(campaign, message="x" * 3000), format="json"
        ),
        413,
        "too_large",
    )
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token": "1/min", "bulk": "1/min", "auth": "1/min"},
    }
    marketing_api.get("/api/v1/campaigns/")
    throttled = marketing_api.get("/api/v1/campaigns/")
    check(throttled, 429, "throttled")
    assert int(throttled["Retry-After"]) >= 1


@pytest.mark.django_db
def test_a_conflict_is_a_problem(problem_validator, rep_api, campaign, rep):
    from ..factories import receive_lead

    lead = receive_lead(campaign=campaign, requests_material=True)
    material = lead.followups.get(kind="material")
    url = f"/api/v1/followups/{material.pk}/dispatch/"
    assert rep_api.post(url, {"postal": True}, format="json").status_code == 200
    _check(problem_validator, rep_api.post(url, {"postal": True}, format="json"), 409, "conflict")


@pytest.mark.django_db
def test_a_server_error_and_an_outage_are_problems_too(
    problem_validator, marketing_api, settings, monkeypatch
):
    settings.DEBUG = False
    marketing_api.raise_request_exception = False

    def broken(self, request, *args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(LeadViewSet, "list", broken)
    _check(problem_validator, marketing_api.get("/api/v1/leads/"), 500, "server_error")

    def down(self, request, *args, **kwargs):
        raise OperationalError("connection failed: connection to server refused")

    monkeypatch.setattr(LeadViewSet, "list", down)
    outage = _check(
        problem_validator, marketing_api.get("/api/v1/leads/"), 503, "service_unavailable"
    )
    assert outage["title"] == "The service is briefly unavailable. Please try again shortly."


@pytest.mark.django_db
def test_a_problem_type_uri_says_what_it_means(db):
    answer = APIClient().get("/api/v1/problems/idempotency_key_reused")
    assert answer.status_code == 200
    assert answer.json() == {
        "type": "/api/v1/problems/idempotency_key_reused",
        "title": "This Idempotency-Key was used for a different request.",
        "status": 422,
    }
    assert APIClient().get("/api/v1/problems/nonsense").status_code == 404


@pytest.mark.django_db
def test_the_api_answers_english_by_default_and_german_when_asked(marketing_api, campaign):
    english = APIClient().get("/api/v1/leads/")
    assert english["Content-Language"] == "en"
    assert english.json()["title"] == "Authentication credentials were not provided."
    german = APIClient(HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9").get("/api/v1/leads/")
    assert german["Content-Language"] == "de"
    assert german.json()["title"] == "Anmeldedaten fehlen."
    # The web UI stays German without Accept-Language.
    assert APIClient().get("/login/")["Content-Language"] == "de"
    # Field messages and business-rule messages (from the services) alike.
    bad = {**lead_payload(campaign), "email": "nope"}
    assert error_messages(
        marketing_api.post("/api/v1/leads/", bad, format="json", HTTP_ACCEPT_LANGUAGE="de")
    )["email"] == ("Gib eine gültige E-Mail Adresse an.")  # DRF's own catalogue


@pytest.mark.django_db
def test_a_business_rule_message_follows_accept_language(rep_api, campaign):
    from ..factories import receive_lead

    lead = receive_lead(campaign=campaign, requests_material=True)
    material = lead.followups.get(kind="material")
    url = f"/api/v1/followups/{material.pk}/call/"
    english = rep_api.post(url, {"outcome": "reached"}, format="json", HTTP_ACCEPT_LANGUAGE="")
    assert english.json()["detail"] == "Calls are logged on call-back follow-ups."
    german = rep_api.post(url, {"outcome": "reached"}, format="json", HTTP_ACCEPT_LANGUAGE="de")
    assert german.json()["detail"] == "Anrufe werden bei Rückruf-Aufgaben erfasst."


@pytest.mark.django_db
def test_the_schema_is_english_by_default_and_german_when_asked(db):
    accept = "application/vnd.oai.openapi+json"
    english = APIClient().get("/api/v1/schema/", HTTP_ACCEPT=accept).json()
    german = APIClient().get("/api/v1/schema/", HTTP_ACCEPT=accept, HTTP_ACCEPT_LANGUAGE="de")
    country = english["components"]["schemas"]["LeadIntakeRequest"]["properties"]["country"]
    assert country["description"] == "ISO 3166 code in capitals, e.g. DE, AT, CH."
    schemas = german.json()["components"]["schemas"]
    assert schemas["LeadIntakeRequest"]["properties"]["country"]["description"] == (
        "ISO-3166-Code in Großbuchstaben, z. B. DE, AT, CH."
    )


@pytest.mark.django_db
def test_an_unknown_query_parameter_is_a_400_naming_it(marketing_api, campaign):
    answer = marketing_api.get("/api/v1/leads/", {"campain": campaign.pk})
    assert_problem(answer, 400, "invalid")
    assert error_fields(answer) == {"campain"}
    assert answer.json()["errors"][0]["code"] == "unknown_parameter"
    # Also where an operation takes none, and on writes.
    assert marketing_api.get("/api/v1/users/me/", {"x": 1}).status_code == 400
    assert (
        marketing_api.post("/api/v1/leads/?x=1", lead_payload(campaign), format="json").status_code
        == 400
    )
    assert not Lead.objects.exists()
    # Every listed one is accepted.
    assert marketing_api.get("/api/v1/leads/", {"ordering": "-received_at,id"}).status_code == 200
    assert marketing_api.get("/api/v1/leads/", {"ordering": "--id"}).status_code == 400


@pytest.mark.django_db
def test_options_answers_with_the_allowed_methods(marketing_api):
    answer = marketing_api.options("/api/v1/leads/")
    assert answer.status_code == 200
    assert set(answer["Allow"].split(", ")) == {"GET", "POST", "HEAD", "OPTIONS"}
