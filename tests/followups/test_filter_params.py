"""Filters in the URL of the queue and the dashboard: a bad one is said, never a 500."""

import pytest

from ..api.conftest import api_client
from ..problems import error_fields, error_messages

HUGE = "99999999999999999999999"  # past PostgreSQL's bigint


def _problems(response) -> str:
    return response.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [{"start": "0001-01-01"}, {"start": "0001-01-01", "end": "9999-12-31"}, {"end": "9999-12-31"}],
)
def test_a_dashboard_period_off_the_calendar_is_a_form_error(client, manager, query):
    client.force_login(manager)
    for path in ("/dashboard/", "/dashboard/leads/"):
        response = client.get(path, query, HTTP_ACCEPT_LANGUAGE="en")
        assert response.status_code == 200
        page = _problems(response)
        assert "Choose a day from 2000-01-01 on" in page or "Choose a day up to" in page


@pytest.mark.django_db
def test_the_api_dashboard_refuses_a_day_off_the_calendar(manager):
    api = api_client(manager)
    answer = api.get("/api/v1/dashboard/", {"end": "9999-12-31"})
    assert answer.status_code == 400
    assert error_fields(answer) == {"end"}
    assert error_messages(answer)["end"].startswith("Choose a day up to")
    answer = api.get("/api/v1/dashboard/", {"start": "0001-01-01"})
    assert answer.status_code == 400 and error_fields(answer) == {"start"}


@pytest.mark.django_db
def test_a_drill_down_key_that_names_nothing_is_a_400_that_says_so(client, manager):
    client.force_login(manager)
    response = client.get(
        "/dashboard/leads/", {"by": "team", "key": "abc"}, HTTP_ACCEPT_LANGUAGE="en"
    )
    assert response.status_code == 400
    assert "is not one; the link is broken" in _problems(response)
    for key in (HUGE, "²", "-1"):
        answer = client.get("/dashboard/leads/", {"by": "rep", "key": key})
        assert answer.status_code == 400


@pytest.mark.django_db
@pytest.mark.parametrize("name", ["rep", "campaign"])
@pytest.mark.parametrize("value", [HUGE, "²", "-5"])
def test_a_queue_filter_that_is_no_id_is_left_out_and_said(client, manager, name, value):
    client.force_login(manager)
    response = client.get("/queue/", {name: value}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert 'class="error" role="alert"' in _problems(response)


@pytest.mark.django_db
def test_a_full_page_asked_for_by_htmx_still_renders_the_bell(client, manager):
    client.force_login(manager)
    response = client.get("/queue/", {"section": "nonsense"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and 'id="bell"' in response.content.decode()


@pytest.mark.django_db
def test_a_queue_page_cursor_off_the_calendar_is_the_first_page(client, manager):
    client.force_login(manager)
    for after in ("0001-01-01T00:00:00+05:00_1", "2026-02-30T10:00:00+01:00_1", "x_²"):
        response = client.get(
            "/queue/", {"section": "overdue", "after": after}, HTTP_HX_REQUEST="true"
        )
        assert response.status_code == 200
