"""Tokens of an integration (a service account, not a person), with scopes and an expiry."""

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.models import ApiToken, Integration

from ..problems import error_fields
from .conftest import api_client


@pytest.mark.django_db
def test_an_administrator_makes_an_integration_token_that_acts_as_its_service_account(
    admin_api, campaign, time_machine
):
    expires = timezone.now() + timedelta(days=30)
    made = admin_api.post(
        "/api/v1/integration-tokens/",
        {"name": "ERP", "scopes": ["read", "leads:write"], "expires_at": expires.isoformat()},
        format="json",
    )
    assert made.status_code == 201, made.json()
    body = made.json()
    assert body["integration"] == "ERP" and body["key"].startswith("lb_")
    integration = Integration.objects.get(name="ERP")
    assert not integration.user.has_usable_password()
    erp = api_client(integration.user)
    erp.credentials(HTTP_AUTHORIZATION=f"Token {body['key']}")
    assert erp.get("/api/v1/leads/").status_code == 200
    assert erp.get("/api/v1/users/me/").json()["id"] == integration.user.pk

    time_machine.move_to(expires + timedelta(seconds=1))
    expired = erp.get("/api/v1/leads/")
    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"]


@pytest.mark.django_db
def test_only_administrators_make_integration_tokens(manager_api, marketing_api):
    body = {"name": "ERP", "scopes": ["read"], "expires_at": "2099-01-01T00:00:00+00:00"}
    for api in (manager_api, marketing_api):
        assert api.post("/api/v1/integration-tokens/", body, format="json").status_code == 403
    assert not ApiToken.objects.filter(name="ERP").exists()


@pytest.mark.django_db
def test_an_expiry_in_the_past_is_refused(admin_api):
    body = {"name": "ERP", "scopes": ["read"], "expires_at": "2001-01-01T00:00:00+00:00"}
    answer = admin_api.post("/api/v1/integration-tokens/", body, format="json")
    assert answer.status_code == 400 and "expires_at" in error_fields(answer)


@pytest.mark.django_db
def test_the_integrations_page_makes_an_integration_token_for_administrators(client, admin_user):
    client.force_login(admin_user)
    day = (timezone.localdate() + timedelta(days=90)).isoformat()
    page = client.post(
        "/integrations/integration-tokens/",
        {"name": "Fair app", "role": "marketing", "scopes": ["read"], "expires_on": day},
    )
    assert page.status_code == 200
    token = ApiToken.objects.get(name="Fair app")
    assert token.expires_at is not None and token.user.integration.name == "Fair app"
    assert token.prefix in page.content.decode()
