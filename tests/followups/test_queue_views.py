"""The rep's queue over HTTP: sections, htmx actions, bad input, permissions."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from followups.models import FollowUp
from leads.models import Lead

from ..factories import receive_lead

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def rep_client(client, rep):
    client.force_login(rep)
    return client


@pytest.mark.django_db
def test_the_queue_lists_overdue_before_today_before_upcoming(rep_client, campaign, rep):
    now = timezone.now()
    old = receive_lead(campaign=campaign, received_at=now - timedelta(weeks=3), company="Alt GmbH")
    receive_lead(campaign=campaign, received_at=now, company="Neu AG")
    page = rep_client.get(reverse("followups:queue")).content.decode()
    assert page.index("Alt GmbH") < page.index("Neu AG")
    assert 'id="count-overdue"' in page and str(old.followups.count()) in page


@pytest.mark.django_db
def test_dispatch_over_htmx_answers_the_row_and_fresh_counts(rep_client, campaign, rep):
    lead = receive_lead(campaign=campaign, received_at=timezone.now(), requests_material=True)
    material = lead.followups.get(kind="material")
    response = rep_client.post(
        reverse("followups:dispatch", args=[material.pk]), {"postal": "1"}, **HTMX
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert f'id="followup-{material.pk}"' in body and 'hx-swap-oob="true"' in body
    callback = lead.followups.get(kind="callback", completed_at__isnull=True)
    # the call-back it booked comes right under the done row, ready to act on without a reload
    assert (
        f'id="followup-{callback.pk}"' in body
        and reverse("followups:call", args=[callback.pk]) in body
    )

    again = rep_client.post(
        reverse("followups:dispatch", args=[material.pk]), {"postal": "1"}, **HTMX
    )
    assert again.status_code == 409
    assert lead.events.filter(kind="material_sent").count() == 1


@pytest.mark.django_db
def test_a_call_later_without_a_time_is_refused_with_a_message_and_changes_nothing(
    rep_client, campaign, rep
):
    lead = receive_lead(campaign=campaign, received_at=timezone.now())
    callback = lead.followups.get(kind="callback")
    response = rep_client.post(
        reverse("followups:call", args=[callback.pk]),
        {"outcome": "call_later", "call_back_at": "not a date"},
        **HTMX,
    )
    assert response.status_code == 422
    assert (
        "Enter a valid date/time." in response.content.decode()
        or "gültige" in response.content.decode()
    )
    callback.refresh_from_db()
    assert callback.completed_at is None and not lead.events.filter(kind="call_attempt").exists()


@pytest.mark.django_db
def test_a_rep_gets_404_for_another_teams_lead(client, campaign, other_team_rep, rep):
    lead = receive_lead(campaign=campaign, received_at=timezone.now())
    client.force_login(other_team_rep)
    assert client.get(reverse("leads:detail", args=[lead.pk])).status_code == 404
    callback = lead.followups.get(kind="callback")
    assert (
        client.post(
            reverse("followups:call", args=[callback.pk]), {"outcome": "reached"}
        ).status_code
        == 404
    )


@pytest.mark.django_db
def test_marketing_cannot_log_calls(client, campaign, marketer, rep):
    lead = receive_lead(campaign=campaign, received_at=timezone.now())
    client.force_login(marketer)
    callback = lead.followups.get(kind="callback")
    assert (
        client.post(
            reverse("followups:call", args=[callback.pk]), {"outcome": "reached"}
        ).status_code
        == 403
    )
    assert client.get(reverse("leads:detail", args=[lead.pk])).status_code == 200  # may read


@pytest.mark.django_db
def test_show_more_pages_by_keyset_without_repeating_rows(rep_client, campaign, rep):
    now = timezone.now()
    for i in range(30):
        receive_lead(campaign=campaign, received_at=now + timedelta(days=2, minutes=i))
    page = rep_client.get(reverse("followups:queue")).content.decode()
    seen = [int(x.split('"')[0]) for x in page.split('id="followup-')[1:]]
    assert len(seen) == 25
    while "section=upcoming&amp;after=" in page:
        cursor = page.split("section=upcoming&amp;after=")[1].split('"')[0].replace("&amp;", "&")
        page = rep_client.get(
            reverse("followups:queue") + f"?section=upcoming&after={cursor}", **HTMX
        ).content.decode()
        seen += [int(x.split('"')[0]) for x in page.split('id="followup-')[1:]]
    assert len(seen) == len(set(seen)) == FollowUp.objects.filter(assignee=rep).count() == 60


@pytest.mark.django_db
def test_a_team_lead_reassigns_ticked_leads_from_the_team_queue(
    client, campaign, rep, second_rep, manager
):
    leads = [receive_lead(campaign=campaign, received_at=timezone.now()) for _ in range(3)]
    client.force_login(manager)
    page = client.get(reverse("followups:queue")).content.decode()
    assert "reassign-form" in page
    response = client.post(
        reverse("leads:reassign"),
        {"leads": [leads[0].pk, leads[1].pk], "to": second_rep.pk, "next": "https://evil.example/"},
    )
    assert response.status_code == 302 and response["Location"] == reverse("followups:queue")
    assert set(
        Lead.objects.filter(pk__in=[leads[0].pk, leads[1].pk]).values_list("owner", flat=True)
    ) == {second_rep.pk}


@pytest.mark.django_db
def test_the_queue_refresh_says_when_a_follow_up_turned_overdue_since_the_page_loaded(
    rep_client, campaign, rep
):
    import time_machine

    lead = receive_lead(
        campaign=campaign, received_at=timezone.now(), wants_call=True, channel="website"
    )
    page = rep_client.get(reverse("followups:queue"))
    seen = page.context["seen"]
    refresh = rep_client.get(reverse("followups:queue"), {"counts": 1, "seen": seen}, **HTMX)
    assert "queue-stale" not in refresh.content.decode()
    due = lead.followups.order_by("overdue_at").first().overdue_at
    with time_machine.travel(due + timedelta(minutes=1)):
        later = rep_client.get(
            reverse("followups:queue"), {"counts": 1, "seen": seen}, **HTMX
        ).content.decode()
    assert "queue-stale" in later
    assert 'id="count-overdue" data-testid="count-overdue" hx-swap-oob="true">1<' in later
