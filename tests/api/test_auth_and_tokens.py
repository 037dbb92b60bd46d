"""Tokens: made from a password or the UI, stored hashed, scoped, revocable, throttled."""

import pytest
from rest_framework.test import APIClient

from integrations.models import ApiToken, Scope, hash_key

from ..problems import assert_problem, error_fields
from .conftest import api_client, lead_payload


@pytest.mark.django_db
def test_a_username_and_password_give_a_token_that_is_shown_once_and_stored_hashed(rep):
    client = APIClient()
    answer = client.post(
        "/api/v1/auth/token/",
        {"username": "rita", "password": "pw", "name": "Website form"},
        format="json",
    )
    assert answer.status_code == 201
    key = answer.json()["key"]
    token = ApiToken.objects.get()
    assert token.key_hash == hash_key(key) and key not in str(token.__dict__)
    assert answer.json()["prefix"] == key[:11] and token.name == "Website form"
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    me = client.get("/api/v1/users/me/")
    assert me.status_code == 200 and me.json()["username"] == "rita"
    assert "key" not in client.get(f"/api/v1/tokens/{token.pk}/").json()


@pytest.mark.django_db
def test_a_wrong_password_answers_a_field_message_not_a_token(rep):
    answer = APIClient().post(
        "/api/v1/auth/token/", {"username": "rita", "password": "nope"}, format="json"
    )
    assert_problem(answer, 400, "invalid")
    assert error_fields(answer) == {"password"}
    assert not ApiToken.objects.exists()


@pytest.mark.django_db
def test_without_credentials_the_api_answers_401_with_the_error_shape():
    answer = APIClient().get("/api/v1/leads/")
    assert answer.status_code == 401
    assert answer["WWW-Authenticate"] == "Token"
    assert_problem(answer, 401, "not_authenticated")


@pytest.mark.django_db
def test_a_revoked_token_is_refused_at_once(rep):
    client = api_client(rep)
    assert client.get("/api/v1/leads/").status_code == 200
    assert client.post(f"/api/v1/tokens/{client.token.pk}/revoke/").status_code == 200
    assert client.get("/api/v1/leads/").status_code == 401


@pytest.mark.django_db
def test_an_unknown_token_is_refused(rep):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token lb_not-a-real-key")
    assert client.get("/api/v1/leads/").status_code == 401


@pytest.mark.django_db
def test_a_read_only_token_cannot_send_leads(marketer, campaign):
    client = api_client(marketer, scopes=[Scope.READ])
    answer = client.post("/api/v1/leads/", lead_payload(campaign), format="json")
    assert answer.status_code == 403 and "leads:write" in answer.json()["detail"]
    assert client.get("/api/v1/leads/").status_code == 200


@pytest.mark.django_db
def test_a_write_only_token_cannot_read(marketer, campaign):
    client = api_client(marketer, scopes=[Scope.LEADS_WRITE])
    assert client.get("/api/v1/leads/").status_code == 403
    assert client.post("/api/v1/leads/", lead_payload(campaign), format="json").status_code == 201


@pytest.mark.django_db
def test_the_browser_session_works_too(client, rep):
    client.force_login(rep)
    assert client.get("/api/v1/followups/").status_code == 200


@pytest.mark.django_db
def test_last_used_is_recorded_without_writing_on_every_request(rep, django_assert_num_queries):
    client = api_client(rep)
    client.get("/api/v1/users/me/")
    client.token.refresh_from_db()
    first_use = client.token.last_used_at
    assert first_use is not None
    with django_assert_num_queries(1):  # the token lookup only: no UPDATE within the minute
        client.get("/api/v1/users/me/")


@pytest.mark.django_db
def test_each_token_is_throttled_on_its_own_with_a_json_429(settings, rep, second_rep):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "token": "3/min",
        },
    }
    first, second = api_client(rep), api_client(second_rep)
    assert [first.get("/api/v1/users/me/").status_code for _ in range(3)] == [200, 200, 200]
    refused = first.get("/api/v1/users/me/")
    assert refused.status_code == 429 and int(refused["Retry-After"]) >= 1
    assert refused.json()["code"] == "throttled"
    assert second.get("/api/v1/users/me/").status_code == 200


@pytest.mark.django_db
def test_password_exchanges_are_throttled_per_address(settings, rep):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "auth": "2/min",
        },
    }
    client = APIClient()
    codes = [
        client.post(
            "/api/v1/auth/token/", {"username": "rita", "password": "x"}, format="json"
        ).status_code
        for _ in range(3)
    ]
    assert codes == [400, 400, 429]


@pytest.mark.django_db
def test_the_redis_throttle_counts_in_one_window_across_processes(settings):
    """With Redis (as in production and CI) the counter lives there, shared by all workers."""
    import uuid

    from django.core.cache import caches

    from leadbridge.api.throttling import _hit

    if not settings.REDIS_URL:
        pytest.skip("needs REDIS_URL")
    cache = caches["throttle"]
    key = f"test:{uuid.uuid4()}"
    assert [_hit(cache, key, 60) for _ in range(3)] == [1, 2, 3]
    cache.delete(key)


@pytest.mark.django_db
def test_a_token_can_be_made_and_revoked_on_the_integrations_page(client, rep):
    client.force_login(rep)
    page = client.post(
        "/integrations/tokens/", {"name": "Messe-Scanner", "scopes": ["read", "leads:write"]}
    )
    assert page.status_code == 200
    key = page.context["new_key"].key
    assert key.encode() in page.content  # shown this once
    token = ApiToken.objects.get(name="Messe-Scanner")
    assert token.scopes == ["read", "leads:write"] and token.key_hash == hash_key(key)
    listing = client.get("/integrations/")
    assert key.encode() not in listing.content and token.prefix.encode() in listing.content
    client.post(f"/integrations/tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.revoked_at is not None


@pytest.mark.django_db
def test_another_users_token_cannot_be_revoked_from_the_page(client, rep, second_rep):
    other = api_client(second_rep)
    client.force_login(rep)
    assert client.post(f"/integrations/tokens/{other.token.pk}/revoke/").status_code == 404


@pytest.mark.django_db
def test_an_admin_makes_a_token_for_an_integration_and_sees_the_key_once(client, marketer):
    from accounts.models import Role

    from ..factories import UserFactory

    admin = UserFactory(username="root", role=Role.ADMIN, is_staff=True, is_superuser=True)
    client.force_login(admin)
    answer = client.post(
        "/admin/integrations/apitoken/add/",
        {"user": marketer.pk, "name": "ERP", "scopes": ["read", "leads:write"]},
        follow=True,
    )
    assert answer.status_code == 200
    token = ApiToken.objects.get(name="ERP")
    shown = [str(m) for m in answer.context["messages"]]
    key = next(m for m in shown if "lb_" in m).split(": ")[-1]
    assert token.key_hash == hash_key(key) and token.user == marketer and token.created_by == admin
