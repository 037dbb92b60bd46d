"""API fixtures: a client per role, each with its own token (the way integrations call)."""

import pytest
from rest_framework.test import APIClient

from accounts.models import Role
from integrations.models import Scope
from integrations.services import token_create

from ..factories import UserFactory


@pytest.fixture(autouse=True)
def _throttle_in_memory(settings):
    # Throttle counters in the per-test local-memory cache (cleared by the root
    # conftest), not in the shared Redis, so tests never count each other's calls.
    settings.LEADBRIDGE_THROTTLE_CACHE = "default"


def api_client(user, scopes=None) -> APIClient:
    client = APIClient(HTTP_ACCEPT_LANGUAGE="en")
    made = token_create(user=user, name=f"{user.username} test", scopes=scopes)
    client.credentials(HTTP_AUTHORIZATION=f"Token {made.key}")
    client.token = made.token
    client.key = made.key
    return client


@pytest.fixture
def admin_user(db):
    return UserFactory(username="ada", first_name="Ada", last_name="Admin", role=Role.ADMIN)


@pytest.fixture
def rep_api(rep):
    return api_client(rep)


@pytest.fixture
def other_rep_api(other_team_rep):
    return api_client(other_team_rep)


@pytest.fixture
def manager_api(manager):
    return api_client(manager)


@pytest.fixture
def marketing_api(marketer):
    return api_client(
        marketer, scopes=[Scope.READ, Scope.LEADS_WRITE, Scope.CAMPAIGNS_WRITE, Scope.WEBHOOKS]
    )


@pytest.fixture
def admin_api(admin_user):
    return api_client(admin_user, scopes=list(Scope.values))


def lead_payload(campaign, **fields) -> dict:
    return {
        "campaign": campaign.pk,
        "company": "Muster GmbH",
        "contact_name": "Erika Mustermann",
        "email": "erika@muster.example",
        "phone": "+49 89 1234567",
        "requests_material": True,
        "wants_call": True,
        "received_at": "2026-11-17T10:00:00+01:00",
        "external_id": "form-1",
        **fields,
    }
