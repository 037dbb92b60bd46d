"""V4: password guessing is locked per username + address; the API's client identity
comes from LEADBRIDGE_TRUSTED_PROXIES, never from a header a client sets itself."""

from datetime import timedelta

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from ..factories import UserFactory

WRONG = {"username": "rita", "password": "guess"}
RIGHT = {"username": "rita", "password": "pw"}


def _login(client, data, address="203.0.113.7", **headers):
    return client.post("/login/", data, REMOTE_ADDR=address, **headers)


@pytest.mark.django_db
def test_five_wrong_passwords_lock_that_user_from_that_address(client, rep, settings):
    assert settings.AXES_FAILURE_LIMIT == 5
    for _attempt in range(4):
        assert _login(client, WRONG).status_code == 200
    locked = _login(client, WRONG, HTTP_ACCEPT_LANGUAGE="en")
    assert locked.status_code == 429
    assert "Too many failed log-ins for this user from your address" in locked.content.decode()
    # Locked means locked: the right password does not get through either.
    assert _login(client, RIGHT).status_code == 429
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_the_lockout_message_is_german_too(client, rep):
    for _attempt in range(5):
        response = _login(client, WRONG, HTTP_ACCEPT_LANGUAGE="de")
    assert response.status_code == 429
    assert "Zu viele fehlgeschlagene Anmeldungen" in response.content.decode()


@pytest.mark.django_db
def test_a_stranger_cannot_lock_a_user_out_from_elsewhere(client, rep):
    for _attempt in range(10):
        _login(client, WRONG, address="198.51.100.66")
    response = _login(client, RIGHT, address="203.0.113.7")
    assert response.status_code == 302 and "_auth_user_id" in client.session


@pytest.mark.django_db
def test_another_user_at_the_same_address_still_logs_in(client, rep):
    UserFactory(username="sven")
    for _attempt in range(6):
        _login(client, WRONG)
    response = _login(client, {"username": "sven", "password": "pw"})
    assert response.status_code == 302


@pytest.mark.django_db
def test_a_rotating_forwarded_header_does_not_escape_the_lockout(client, rep, settings):
    settings.LEADBRIDGE_TRUSTED_PROXIES = 0
    statuses = [
        _login(client, WRONG, HTTP_X_FORWARDED_FOR=f"10.0.0.{n}").status_code for n in range(8)
    ]
    assert statuses[-1] == 429 and statuses.count(200) == 4


@pytest.mark.django_db
def test_the_lock_lifts_after_the_cool_off(client, rep, settings):
    for _attempt in range(5):
        _login(client, WRONG)
    assert _login(client, RIGHT).status_code == 429
    later = timezone.now() + settings.AXES_COOLOFF_TIME + timedelta(minutes=1)
    with time_machine.travel(later):
        assert _login(client, RIGHT).status_code == 302


# --- the API's password log-in -------------------------------------------------------


def _token(api, data, address="203.0.113.7", **headers):
    return api.post("/api/v1/auth/token/", data, format="json", REMOTE_ADDR=address, **headers)


@pytest.fixture
def auth_rate(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {
            **settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
            "auth": "3/min",
        },
    }


@pytest.mark.django_db
def test_a_rotating_forwarded_header_gets_no_fresh_api_allowance(rep, auth_rate, settings):
    settings.LEADBRIDGE_TRUSTED_PROXIES = 0
    api = APIClient()
    statuses = [
        _token(
            api, {"username": f"nobody{n}", "password": "x"}, HTTP_X_FORWARDED_FOR=f"10.9.9.{n}"
        ).status_code
        for n in range(5)
    ]
    assert statuses == [400, 400, 400, 429, 429]


@pytest.mark.django_db
def test_behind_a_trusted_proxy_each_client_has_its_own_allowance(rep, auth_rate, settings):
    settings.LEADBRIDGE_TRUSTED_PROXIES = 1
    api = APIClient()
    proxy = "192.0.2.1"
    for _attempt in range(4):
        _token(
            api,
            {"username": "nobody", "password": "x"},
            address=proxy,
            HTTP_X_FORWARDED_FOR="1.2.3.4, 198.51.100.66",
        )
    # A legitimate user behind the same proxy is not throttled by someone else's failures,
    # and what the client wrote before the proxy's entry ("1.2.3.4") counts for nothing.
    mine = _token(api, RIGHT, address=proxy, HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7")
    assert mine.status_code == 201, mine.content


@pytest.mark.django_db
def test_wrong_api_passwords_lock_the_user_at_that_address_too(rep):
    api = APIClient()
    for _attempt in range(5):
        _token(api, WRONG, HTTP_ACCEPT_LANGUAGE="en")
    locked = _token(api, RIGHT, HTTP_ACCEPT_LANGUAGE="en")
    assert locked.status_code == 429
    assert "Too many failed log-ins" in locked.json()["detail"]
    assert _token(api, RIGHT, address="198.51.100.5").status_code == 201
