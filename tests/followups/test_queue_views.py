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


def _section_of(page: str, lead) -> str:
    """The queue section whose table holds the lead's row."""
    at = page.index(f'id="lead-{lead.pk}"')
    return max(
        (page.rfind(f'id="section-{name}"', 0, at), name)
        for name in ("overdue", "today", "upcoming")
    )[1]


@pytest.mark.django_db
def test_the_queue_lists_overdue_before_today_before_upcoming(rep_client, campaign, rep):
    now = timezone.now()
    receive_lead(campaign=campaign, received_at=now - timedelta(weeks=3), company="Alt GmbH")
    receive_lead(campaign=campaign, received_at=now, company="Neu AG")
    page = rep_client.get(reverse("followups:queue")).content.decode()
    assert page.index("Alt GmbH") < page.index("Neu AG")
    # Counts are leads, not tasks: the old lead has two overdue tasks and is one row.
    assert 'data-testid="count-overdue">1<' in page


@pytest.mark.django_db
def test_each_lead_is_one_row_with_its_next_due_task_first(rep_client, campaign, rep):
    lead = receive_lead(campaign=campaign, requests_material=True, company="Einmal GmbH")
    tasks = list(lead.followups.order_by("due_at", "id"))
    assert len(tasks) >= 2
    page = rep_client.get(reverse("followups:queue")).content.decode()
    assert page.count(f'id="lead-{lead.pk}"') == 1
    assert page.count("Einmal GmbH") == 1
    row = page[
        page.index(f'id="lead-{lead.pk}"') : page.index("</tr>", page.index(f'id="lead-{lead.pk}"'))
    ]
    head, *others = tasks
    assert f'id="followup-{head.pk}"' in row
    # the others are reachable in the row: its disclosure loads them
    panel = reverse("followups:lead_tasks", args=[lead.pk])
    assert f'hx-get="{panel}"' in row
    more = rep_client.get(panel, **HTMX).content.decode()
    assert f'id="followup-{head.pk}"' not in more
    for other in others:
        assert f'id="followup-{other.pk}"' in more


@pytest.mark.django_db
def test_dispatch_over_htmx_answers_the_whole_lead_row_and_fresh_counts(rep_client, campaign, rep):
    lead = receive_lead(campaign=campaign, received_at=timezone.now(), requests_material=True)
    material = lead.followups.get(kind="material")
    response = rep_client.post(
        reverse("followups:dispatch", args=[material.pk]), {"postal": "1"}, **HTMX
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.startswith(f'<tr id="lead-{lead.pk}"') and 'hx-swap-oob="true"' in body
    assert reverse("followups:dispatch", args=[material.pk]) not in body  # done: no buttons
    callback = lead.followups.get(kind="callback", completed_at__isnull=True)
    # the call-back it booked is in the same row, ready to act on without a reload
    assert reverse("followups:call", args=[callback.pk]) in body
    assert "autofocus" in body.split(">", 1)[0]  # focus stays on the row, not the body

    again = rep_client.post(
        reverse("followups:dispatch", args=[material.pk]), {"postal": "1"}, **HTMX
    )
    assert again.status_code == 409
    assert lead.events.filter(kind="material_sent").count() == 1


@pytest.mark.django_db
def test_a_rejection_takes_the_buttons_off_every_task_of_the_lead_row(rep_client, campaign, rep):
    lead = receive_lead(campaign=campaign, received_at=timezone.now())
    callback = lead.followups.get(kind="callback")
    decision = lead.followups.get(kind="decision")
    response = rep_client.post(
        reverse("leads:decide", args=[lead.pk]),
        {
            "decision": "rejected",
            "reason": "no_budget",
            "followup": decision.pk,
            "section": "today",
        },
        **HTMX,
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.startswith(f'<tr id="lead-{lead.pk}"')
    assert reverse("followups:call", args=[callback.pk]) not in body
    assert reverse("leads:decide", args=[lead.pk]) not in body
    assert "<button" not in body.split("</tr>")[0]
    assert '<p class="ok" role="status">' in body


@pytest.mark.django_db
def test_rejecting_without_a_reason_keeps_the_panel_open_with_the_error_at_the_field(
    rep_client, campaign, rep
):
    lead = receive_lead(campaign=campaign, received_at=timezone.now())
    decision = lead.followups.get(kind="decision")
    response = rep_client.post(
        reverse("leads:decide", args=[lead.pk]),
        {"decision": "rejected", "reason": "", "followup": decision.pk},
        **HTMX,
    )
    body = response.content.decode()
    assert response.status_code == 422
    panel = body[body.index(f'id="followup-{decision.pk}"') :]
    panel = panel[panel.index('<details class="action-panel"') :]
    assert panel.startswith('<details class="action-panel" open>')
    assert f'aria-describedby="reason-error-{decision.pk}" autofocus' in panel
    assert f'<span class="field-error" id="reason-error-{decision.pk}">' in panel
    lead.refresh_from_db()
    assert lead.decision == ""


@pytest.mark.django_db
def test_a_call_back_booked_for_later_is_not_shown_as_overdue(rep_client, campaign, rep):
    now = timezone.now()
    lead = receive_lead(campaign=campaign, received_at=now - timedelta(weeks=3))
    decision = lead.followups.get(kind="decision")
    rep_client.post(
        reverse("leads:decide", args=[lead.pk]),
        {"decision": "accepted", "followup": decision.pk},
        **HTMX,
    )
    callback = lead.followups.get(kind="callback", completed_at__isnull=True)
    page = rep_client.get(reverse("followups:queue")).content.decode()
    assert _section_of(page, lead) == "overdue"
    later = timezone.localtime(now + timedelta(days=7)).replace(hour=10, minute=0)
    response = rep_client.post(
        reverse("followups:call", args=[callback.pk]),
        {
            "outcome": "call_later",
            "call_back_at": later.strftime("%Y-%m-%dT%H:%M"),
            "section": "overdue",
        },
        **HTMX,
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert '<p class="muted moves">' in body  # said to move to upcoming, not shown as overdue
    assert 'data-testid="count-overdue" hx-swap-oob="true">0<' in body
    page = rep_client.get(reverse("followups:queue")).content.decode()
    assert _section_of(page, lead) == "upcoming"


@pytest.mark.django_db
def test_a_task_due_yesterday_is_not_due_today(rep_client, campaign, rep):
    import time_machine

    lead = receive_lead(campaign=campaign, requests_material=True, company="Gestern KG")
    material = lead.followups.get(kind="material")
    assert material.overdue_at > material.due_at  # printed: a grace day between due and overdue
    lead.followups.exclude(pk=material.pk).update(
        due_at=material.overdue_at, warn_at=material.warn_at
    )
    from followups.models import queue_day

    next_morning = queue_day(material.due_at)[1] + timedelta(minutes=1)
    with time_machine.travel(next_morning):
        assert timezone.localdate(material.due_at) < timezone.localdate()
        assert material.overdue_at > timezone.now()
        page = rep_client.get(reverse("followups:queue")).content.decode()
    assert _section_of(page, lead) == "overdue"


@pytest.mark.django_db
def test_the_section_rule_in_sql_and_per_row_agree(rep, campaign):
    from followups.models import QUEUE_SECTIONS, queue_day

    lead = receive_lead(campaign=campaign)
    task = lead.followups.first()
    now = timezone.now()
    today, tomorrow = queue_day(now)
    moments = [
        today - timedelta(hours=1),
        today,
        now - timedelta(minutes=1),
        now,
        tomorrow,
        tomorrow + timedelta(days=2),
    ]
    for due in moments:
        for overdue in moments:
            if overdue < due:
                continue
            FollowUp.objects.filter(pk=task.pk).update(due_at=due, overdue_at=overdue)
            task.refresh_from_db()
            in_sql = [
                n
                for n in QUEUE_SECTIONS
                if FollowUp.objects.filter(pk=task.pk).in_section(n, now).exists()
            ]
            assert in_sql == [task.queue_section(now)], (due, overdue)


@pytest.mark.django_db
def test_reached_records_the_note_and_result_and_asks_for_the_next_step(rep_client, campaign, rep):
    from leads.models import LeadEvent

    lead = receive_lead(campaign=campaign, received_at=timezone.now())
    callback = lead.followups.get(kind="callback")
    response = rep_client.post(
        reverse("followups:call", args=[callback.pk]),
        {"outcome": "reached", "note": "Will einen Termin", "detail": "interested"},
        **HTMX,
    )
    body = response.content.decode()
    assert response.status_code == 200
    event = LeadEvent.objects.get(lead=lead, kind="call_attempt")
    assert (event.data["note"], event.data["detail"]) == ("Will einen Termin", "interested")
    assert 'class="next-step-prompt"' in body and reverse("leads:qualify", args=[lead.pk]) in body
    assert '<select name="next_step" autofocus>' in body

    qualify = rep_client.post(
        reverse("leads:qualify", args=[lead.pk]),
        {"next_step": "visit", "due_at": ""},
        **HTMX,
    )
    assert qualify.status_code == 422
    assert 'class="next-step-prompt"' in qualify.content.decode()  # the error in place


@pytest.mark.django_db
def test_reached_with_a_time_books_the_call_back(rep_client, campaign, rep):
    lead = receive_lead(campaign=campaign, received_at=timezone.now())
    callback = lead.followups.get(kind="callback")
    later = timezone.localtime(timezone.now() + timedelta(days=3)).replace(
        hour=11, minute=0, second=0, microsecond=0
    )
    rep_client.post(
        reverse("followups:call", args=[callback.pk]),
        {"outcome": "reached", "call_back_at": later.strftime("%Y-%m-%dT%H:%M")},
        **HTMX,
    )
    booked = lead.followups.get(kind="callback", completed_at__isnull=True)
    assert booked.due_at == later


@pytest.mark.django_db
def test_the_lead_page_acts_on_its_open_follow_ups_and_links_phone_and_email(
    rep_client, campaign, rep
):
    lead = receive_lead(campaign=campaign, phone="+49 89 1234", email="kim@example.com")
    callback = lead.followups.get(kind="callback")
    page = rep_client.get(reverse("leads:detail", args=[lead.pk])).content.decode()
    assert 'href="tel:+49 89 1234"' in page and 'href="mailto:kim@example.com"' in page
    assert reverse("followups:call", args=[callback.pk]) in page
    response = rep_client.post(
        reverse("followups:call", args=[callback.pk]),
        {"outcome": "no_answer", "where": "lead"},
        **HTMX,
    )
    body = response.content.decode()
    assert body.startswith(f'<section class="card lead-tasks" id="lead-{lead.pk}-tasks"')
    assert '<p class="ok" role="status">' in body
    assert lead.events.filter(kind="call_attempt").count() == 1


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
    seen = [int(x.split('"')[0]) for x in page.split('id="lead-')[1:]]
    assert len(seen) == 25
    while "section=upcoming&amp;after=" in page:
        cursor = page.split("section=upcoming&amp;after=")[1].split('"')[0].replace("&amp;", "&")
        page = rep_client.get(
            reverse("followups:queue") + f"?section=upcoming&after={cursor}", **HTMX
        ).content.decode()
        seen += [int(x.split('"')[0]) for x in page.split('id="lead-')[1:]]
    assert len(seen) == len(set(seen)) == Lead.objects.filter(owner=rep).count() == 30


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
