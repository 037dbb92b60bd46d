"""The time of receipt is bounded on every intake path, and answered as RFC 3339.

Not before 2000-01-01 (leads.models.RECEIVED_FLOOR), not later than now plus the
clock-skew allowance. A year-355 time used to be taken and echoed with Berlin's
local mean time offset, +00:53:28, which RFC 3339 cannot even write.
"""

import re
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone, translation

from leads.import_files import ImportOptions, mapping_guess, parse_rows, reason_text, table_open
from leads.models import Lead

from ..api.conftest import api_client, lead_payload
from ..factories import receive_lead
from ..problems import error_fields, error_messages

NOW = datetime(2026, 11, 17, 10, 0, tzinfo=UTC)
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
WHOLE_MINUTE_OFFSET = re.compile(r"(Z|[+-]\d{2}:\d{2})$")


@pytest.fixture(autouse=True)
def english():
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _at_now():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def api(marketer):
    return api_client(marketer)


TOO_OLD = ["0355-06-01T12:00:00+01:00", "1999-12-31T22:59:59Z", "0001-01-01T00:00:00+05:00"]
TOO_LATE = ["2026-11-17T10:05:01Z", "9999-12-31T23:59:59+00:00"]


@pytest.mark.django_db
@pytest.mark.parametrize("received_at", TOO_OLD + TOO_LATE)
def test_the_api_refuses_a_time_of_receipt_out_of_bounds_single_and_bulk(
    api, campaign, received_at
):
    single = api.post(
        "/api/v1/leads/", lead_payload(campaign, received_at=received_at), format="json"
    )
    assert single.status_code == 400, single.json()
    assert error_fields(single) == {"received_at"}
    bulk = api.post(
        "/api/v1/leads/bulk/",
        {"leads": [lead_payload(campaign, received_at=received_at)]},
        format="json",
    )
    assert bulk.status_code == 200 and bulk.json()["invalid"] == 1, bulk.json()
    assert set(bulk.json()["results"][0]["errors"]) == {"received_at"}
    assert not Lead.objects.exists()


@pytest.mark.django_db
def test_the_api_says_which_bound_was_crossed(api, campaign):
    old = api.post("/api/v1/leads/", lead_payload(campaign, received_at=TOO_OLD[0]), format="json")
    assert error_messages(old)["received_at"] == (
        "The enquiry cannot have arrived before 2000-01-01."
    )
    late = api.post(
        "/api/v1/leads/", lead_payload(campaign, received_at=TOO_LATE[0]), format="json"
    )
    assert error_messages(late)["received_at"] == "The enquiry cannot have arrived in the future."


@pytest.mark.django_db
@pytest.mark.parametrize("received_at", ["2000-01-01T00:00:00+01:00", "2026-11-17T10:05:00Z"])
def test_the_api_takes_the_bounds_themselves(api, campaign, received_at):
    answer = api.post(
        "/api/v1/leads/", lead_payload(campaign, received_at=received_at), format="json"
    )
    assert answer.status_code == 201, answer.json()


@pytest.mark.django_db
def test_a_stored_time_from_before_the_time_zones_is_answered_in_utc_not_with_seconds_offset(
    api, campaign
):
    lead = receive_lead(campaign=campaign, now=NOW)
    # Rows from before the bound (an old import, the admin) are still answered cleanly.
    Lead.objects.filter(pk=lead.pk).update(received_at=datetime(355, 6, 1, 11, 0, tzinfo=UTC))
    body = api.get(f"/api/v1/leads/{lead.pk}/").json()
    assert body["received_at"] == "0355-06-01T11:00:00Z"
    listed = api.get("/api/v1/leads/").json()["results"][0]
    assert listed["received_at"] == "0355-06-01T11:00:00Z"


@pytest.mark.django_db
def test_every_time_the_api_answers_is_rfc3339_with_a_whole_minute_offset(api, campaign):
    made = api.post("/api/v1/leads/", lead_payload(campaign), format="json").json()
    assert made["received_at"] == "2026-11-17T10:00:00+01:00"
    stamps = [
        value
        for value in made.values()
        if isinstance(value, str) and re.match(r"^\d{4}-\d{2}-\d{2}T", value)
    ]
    assert len(stamps) >= 2
    for value in stamps:
        assert RFC3339.match(value) and WHOLE_MINUTE_OFFSET.search(value), value


@pytest.mark.django_db
def test_the_manual_entry_form_refuses_a_time_before_2000(client, marketer, campaign):
    client.force_login(marketer)
    data = {
        "campaign": campaign.pk,
        "channel": "phone",
        "received_at": "0355-06-01T12:00",
        "contact_name": "Paul Phone",
        "phone": "089 555555",
        "country": "DE",
        "lawful_basis": "contract",
    }
    response = client.post("/campaigns/leads/new/", data, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert "The time of receipt cannot lie before 1 Jan 2000." in response.content.decode()
    late = client.post(
        "/campaigns/leads/new/",
        {**data, "received_at": "2026-11-17T11:06"},  # 10:06 UTC: past the 5 minutes
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert "The time of receipt cannot lie in the future." in late.content.decode()
    assert not Lead.objects.exists()


def test_the_import_refuses_rows_before_2000_and_beyond_the_clock_skew():
    data = (
        b"Name;E-Mail;Datum\n"
        b"Anna;a@example.com;01.06.0355\n"
        b"Bo;b@example.com;31.12.1999 23:59\n"
        b"Cleo;c@example.com;17.11.2026 11:06\n"
        b"Dora;d@example.com;17.11.2026 11:05\n"
        b"Emil;e@example.com;01.01.2000 00:00\n"
    )
    table = table_open(data=data)
    options = ImportOptions(mapping=mapping_guess(table.header))
    _table, rows = parse_rows(data=data, options=options, now=timezone.now())
    reasons = [[reason_text(r) for r in row.errors] for row in rows]
    assert "before the year 2000" in reasons[0][0]
    assert "before the year 2000" in reasons[1][0]
    assert "lies in the future" in reasons[2][0]
    assert reasons[3] == [] and reasons[4] == []


def test_the_floor_holds_in_local_time():
    from leads.models import RECEIVED_FLOOR_AT, received_at_problem

    assert timezone.localtime(RECEIVED_FLOOR_AT).isoformat() == "2000-01-01T00:00:00+01:00"
    assert received_at_problem(RECEIVED_FLOOR_AT, now=NOW) is None
    assert received_at_problem(RECEIVED_FLOOR_AT - timedelta(seconds=1), now=NOW) == "old"
    assert received_at_problem(NOW + timedelta(minutes=5), now=NOW) is None
    assert received_at_problem(NOW + timedelta(minutes=5, seconds=1), now=NOW) == "future"
