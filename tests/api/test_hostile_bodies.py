"""Bodies built to break a parser: every write endpoint answers 400 in the API's error shape."""

import re

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from integrations.models import Event, WebhookDelivery, WebhookSubscription
from leads.models import Lead

from ..factories import receive_lead
from ..problems import assert_problem, error_fields

# Far deeper than Python's recursion limit, and deep enough to stay under it but blow up
# whatever walks the parsed value afterwards.
NESTED = {
    "arrays": "[" * 5000,
    "objects": '{"a":' * 5000,
    "closed arrays": "[" * 900 + "]" * 900,
    "closed objects": '{"a":' * 900 + "1" + "}" * 900,
    "in a field": '{"company": ' + "[" * 900 + "]" * 900 + "}",
}
TOO_DEEP_TO_PARSE = {"arrays", "objects"}


def _write_operations() -> list[tuple[str, str]]:
    """(method, path template) of every API operation that takes a request body."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        (method, path)
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
        if method in {"post", "put", "patch"} and "requestBody" in operation
    )


@pytest.fixture
def objects(campaign, rep, admin_user, printed_brochure):
    lead = receive_lead(campaign=campaign)
    subscription = WebhookSubscription.objects.create(
        user=admin_user, name="CRM", url="https://crm.example/hook", events=[Event.LEAD_CREATED]
    )
    delivery = WebhookDelivery.objects.create(
        subscription=subscription,
        event=Event.LEAD_CREATED,
        payload={},
        occurred_at=lead.received_at,
    )
    return {
        "campaigns": campaign.pk,
        "materials": printed_brochure.pk,
        "leads": lead.pk,
        "followups": lead.followups.first().pk,
        "webhooks": subscription.pk,
        "webhook-deliveries": delivery.pk,
    }


def _url(path: str, objects: dict) -> str:
    resource = path.removeprefix("/api/v1/").split("/", 1)[0]
    if "{id}" not in path:
        return path
    assert resource in objects, f"no object for {path}: add one to the fixture"
    return path.replace("{id}", str(objects[resource]))


@pytest.mark.django_db
@pytest.mark.parametrize("shape", list(NESTED))
def test_deeply_nested_json_is_a_400_on_every_endpoint_with_a_body(
    shape, objects, admin_api, settings
):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            "token": "100000/min",
            "bulk": "100000/min",
            "auth": "100000/min",
        },
    }
    operations = _write_operations()
    assert ("post", "/api/v1/auth/token/") in operations and len(operations) >= 15
    leads_before = Lead.objects.count()
    for method, path in operations:
        client = (
            APIClient(HTTP_ACCEPT_LANGUAGE="en") if path == "/api/v1/auth/token/" else admin_api
        )
        answer = getattr(client, method)(
            _url(path, objects), NESTED[shape], content_type="application/json"
        )
        assert answer.status_code == 400, (method, path, answer.status_code)
        body = assert_problem(answer, 400)
        if shape in TOO_DEEP_TO_PARSE:
            assert re.search(r"nested too deeply", body["detail"]), (method, path, body)
    assert Lead.objects.count() == leads_before


@pytest.mark.django_db
def test_a_list_of_ids_given_as_an_object_is_a_400_not_an_empty_list(marketing_api):
    answer = marketing_api.post(
        "/api/v1/campaigns/",
        {"name": "Fair", "channel": "other", "starts_on": "2026-01-01", "materials": {}},
        format="json",
    )
    assert answer.status_code == 400 and error_fields(answer) == {"materials"}
