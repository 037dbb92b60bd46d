"""Campaigns in the browser: create, edit, list and filter; the campaign page's figures;
the lead export; the nurturing list."""

import csv
import html as html_module
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from campaigns.models import Campaign, Channel
from followups.models import FollowUp
from followups.services import call_log, material_dispatch
from leads.models import Lead, LeadEvent
from leads.services import lead_decide, lead_move, lead_qualify

from ..factories import CampaignFactory, InfoMaterialFactory, receive_lead


def test_marketing_creates_a_campaign_with_all_its_fields(client, marketer, team, printed_brochure):
    client.force_login(marketer)
    assert client.get("/campaigns/new/").status_code == 200
    response = client.post(
        "/campaigns/new/",
        {
            "name": "Hannover Messe 2027",
            "channel": "trade_fair",
            "starts_on": "2027-04-12",
            "ends_on": "2027-04-16",
            "budget": "45000.00",
            "expected_responses": "600",
            "materials": [printed_brochure.pk],
            "hypothesis": "600 Scans, 60 Termine",
            "team": team.pk,
            "consent_text": "Ich bin einverstanden.",
            "consent_text_en": "I agree.",
        },
    )
    campaign = Campaign.objects.get(name="Hannover Messe 2027")
    assert response.status_code == 302 and response["Location"] == f"/campaigns/{campaign.pk}/"
    assert (campaign.status, campaign.owner, campaign.budget, campaign.expected_responses) == (
        "planned",
        marketer,
        Decimal("45000.00"),
        600,
    )
    assert list(campaign.materials.all()) == [printed_brochure]
    assert campaign.hypothesis == "600 Scans, 60 Termine" and campaign.team == team


def test_a_campaign_cannot_end_before_it_starts(client, marketer):
    client.force_login(marketer)
    response = client.post(
        "/campaigns/new/",
        {
            "name": "X",
            "channel": "webinar",
            "starts_on": "2027-04-12",
            "ends_on": "2027-04-01",
            "budget": "0",
            "expected_responses": "0",
        },
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 200
    assert "The campaign cannot end before it starts." in response.content.decode()
    assert not Campaign.objects.filter(name="X").exists()


def test_marketing_edits_a_campaign(client, marketer, campaign):
    client.force_login(marketer)
    response = client.post(
        f"/campaigns/{campaign.pk}/edit/",
        {
            "name": "Hannover Messe (verlängert)",
            "channel": campaign.channel,
            "starts_on": campaign.starts_on.isoformat(),
            "budget": "1000",
            "expected_responses": "100",
            "team": campaign.team.pk,
            "consent_text": "ok",
            "hypothesis": "neu",
        },
    )
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert (campaign.name, campaign.hypothesis, campaign.budget) == (
        "Hannover Messe (verlängert)",
        "neu",
        1000,
    )


def test_sales_cannot_create_or_edit_campaigns(client, rep, campaign):
    client.force_login(rep)
    assert client.get("/campaigns/new/").status_code == 403
    assert client.get(f"/campaigns/{campaign.pk}/edit/").status_code == 403


def test_the_list_filters_by_channel_status_period_and_owner(client, marketer, team):
    other_marketer = type(marketer).objects.create(username="maria", role="marketing")
    today = timezone.localdate()
    CampaignFactory(
        name="Messe",
        channel=Channel.TRADE_FAIR,
        owner=marketer,
        status="active",
        starts_on=today,
        ends_on=today + timedelta(days=2),
    )
    CampaignFactory(
        name="Newsletter Mai",
        channel=Channel.NEWSLETTER,
        owner=other_marketer,
        status="planned",
        starts_on=today + timedelta(days=60),
        ends_on=today + timedelta(days=70),
    )
    CampaignFactory(
        name="Anzeige alt",
        channel=Channel.PRINT_AD,
        owner=marketer,
        status="ended",
        starts_on=today - timedelta(days=200),
        ends_on=today - timedelta(days=150),
    )
    client.force_login(marketer)

    def names(query):
        html = client.get(f"/campaigns/?{query}").content.decode()
        return re.findall(r'<td><a href="/campaigns/\d+/">([^<]+)</a>', html)

    assert names("") == ["Newsletter Mai", "Messe", "Anzeige alt"]
    assert names("channel=newsletter") == ["Newsletter Mai"]
    assert names("status=ended") == ["Anzeige alt"]
    assert names(f"owner={other_marketer.pk}") == ["Newsletter Mai"]
    assert names(f"start={today + timedelta(days=65)}") == ["Newsletter Mai"]
    assert names(f"start={today - timedelta(days=180)}&end={today}") == ["Messe", "Anzeige alt"]


# --- the campaign page's figures equal counts from the raw rows ---------------------------


@pytest.fixture
def history(campaign, rep, manager, marketer):
    """Leads of the campaign in every state the page counts, and one of another campaign."""
    now = timezone.now()
    old = now - timedelta(days=28)
    brochure = campaign.materials.get()
    leads = {}

    def lead(name, received_at, **fields):
        leads[name] = receive_lead(
            campaign=campaign, company=name, received_at=received_at, now=received_at, **fields
        )
        return leads[name]

    def material(of):
        return of.followups.get(kind=FollowUp.Kind.MATERIAL)

    on_time = material(
        lead("On Time GmbH", old, requests_material=True, requested_material=brochure)
    )
    material_dispatch(
        followup=on_time, by=rep, at=on_time.starts_at + timedelta(minutes=5), postal=True
    )
    late = material(lead("Late AG", old, requests_material=True, requested_material=brochure))
    material_dispatch(followup=late, by=rep, at=late.overdue_at + timedelta(hours=1), postal=True)
    lead("Pending KG", now, requests_material=True, requested_material=brochure)
    lead("Overdue OHG", old, requests_material=True, requested_material=brochure)

    buyer = lead("Buyer GmbH", old)
    call_log(
        followup=buyer.followups.get(kind="callback"),
        by=rep,
        at=old + timedelta(days=1),
        outcome="reached",
    )
    lead_decide(lead=buyer, by=rep, at=old + timedelta(days=1), decision="accepted")
    lead_qualify(
        lead=buyer,
        by=rep,
        at=old + timedelta(days=1),
        next_step="visit",
        due_at=old + timedelta(days=5),
    )
    lead_move(lead=buyer, by=rep, at=old + timedelta(days=6), stage="presales")
    lead_move(lead=buyer, by=rep, at=old + timedelta(days=9), stage="sale")

    prospect = lead("Prospect AG", old)
    lead_decide(lead=prospect, by=rep, at=old + timedelta(days=1), decision="accepted")
    lead_qualify(
        lead=prospect,
        by=rep,
        at=old + timedelta(days=1),
        next_step="sample",
        due_at=now + timedelta(days=3),
    )

    no_budget = lead("No Budget KG", old)
    call_log(
        followup=no_budget.followups.get(kind="callback"),
        by=rep,
        at=old + timedelta(hours=2),
        outcome="no_answer",
    )
    lead_decide(
        lead=no_budget, by=rep, at=old + timedelta(days=2), decision="rejected", reason="no_budget"
    )
    competitor = lead("Competitor SE", now - timedelta(days=2))
    lead_decide(
        lead=competitor,
        by=rep,
        at=now,
        decision="rejected",
        reason="competitor",
        note="hat schon X",
    )

    elsewhere = CampaignFactory(name="Woanders", owner=marketer, team=campaign.team)
    receive_lead(campaign=elsewhere, company="Other Campaign GmbH")
    return leads


def _raw_counts(campaign, now) -> dict:
    """The page's figures, counted straight from lead, follow-up and timeline rows."""
    leads = list(Lead.objects.filter(campaign=campaign))
    material = {
        f.lead_id: f for f in FollowUp.objects.filter(lead__campaign=campaign, kind="material")
    }
    called = set(
        LeadEvent.objects.filter(lead__campaign=campaign, kind="call_attempt").values_list(
            "lead_id", flat=True
        )
    )
    counts = {"leads": len(leads), "material_on_time": 0, "material_late": 0, "material_pending": 0}
    for lead in leads:
        f = material.get(lead.pk)
        if not lead.requests_material or f is None:
            continue
        if f.completed_at is not None:
            counts["material_on_time" if f.completed_at <= f.overdue_at else "material_late"] += 1
        elif f.overdue_at <= now:
            counts["material_late"] += 1
        else:
            counts["material_pending"] += 1
    counts["contacted"] = sum(1 for lead in leads if lead.pk in called)
    counts["accepted"] = sum(1 for lead in leads if lead.decision == "accepted")
    counts["rejected"] = sum(1 for lead in leads if lead.decision == "rejected")
    counts["prospects"] = sum(
        1 for lead in leads if lead.stage in {"prospect", "presales", "sale", "aftersales"}
    )
    counts["reasons"] = sorted(
        (lead.get_decision_reason_display(), 1) for lead in leads if lead.decision == "rejected"
    )
    return counts


def test_the_campaign_pages_figures_equal_the_counts_from_the_raw_rows(
    client, marketer, campaign, history
):
    campaign.budget = Decimal("8000")
    campaign.hypothesis = "Messebesucher wollen den Katalog"
    campaign.save()
    client.force_login(marketer)
    response = client.get(f"/campaigns/{campaign.pk}/", HTTP_ACCEPT_LANGUAGE="en")
    raw = _raw_counts(campaign, timezone.now())
    figures = response.context["figures"]

    assert raw == {
        "leads": 8,
        "material_on_time": 1,
        "material_late": 2,
        "material_pending": 1,
        "contacted": 2,
        "accepted": 2,
        "rejected": 2,
        "prospects": 2,
        "reasons": [("Competitor", 1), ("No budget", 1)],
    }
    for key in (
        "leads",
        "material_on_time",
        "material_late",
        "material_pending",
        "contacted",
        "accepted",
        "rejected",
    ):
        assert figures.counts[key] == raw[key], key
    assert figures.prospects == raw["prospects"]
    assert sorted(figures.reasons) == raw["reasons"]
    assert figures.cost_per_lead == Decimal("1000.00") and figures.cost_per_prospect == Decimal(
        "4000.00"
    )
    assert sum(n for _day, n in figures.per_day) == raw["leads"]
    html = response.content.decode()
    for key in (
        "leads",
        "material_on_time",
        "material_late",
        "material_pending",
        "contacted",
        "accepted",
        "rejected",
        "prospects",
    ):
        shown = re.search(rf'data-testid="fig-{key}"><span class="figure">(\d+)</span>', html)
        assert shown and int(shown[1]) == raw[key], key
    assert "€1,000.00" in html and "€4,000.00" in html
    assert "Messebesucher wollen den Katalog" in html  # the hypothesis beside the result
    assert 'id="chart-per-day"' in html and "vendor/chart-4.6.1.umd.min.js" in html
    for name in ("On Time GmbH", "Competitor SE"):
        assert name in html
    assert "Other Campaign GmbH" not in html


def test_the_lead_export_is_safe_against_formula_injection(client, marketer, campaign, rep):
    receive_lead(
        campaign=campaign,
        company='=HYPERLINK("http://evil.example","klick")',
        contact_name="+1+1",
        email="x@example.com",
        phone="+49 89 123",
        message="@SUM(A1:A9)",
    )
    client.force_login(marketer)
    response = client.get(f"/campaigns/{campaign.pk}/leads.csv", HTTP_ACCEPT_LANGUAGE="en")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    header, row = rows[0], rows[1]
    record = dict(zip(header, row, strict=True))
    assert record["Company"] == '\'=HYPERLINK("http://evil.example","klick")'
    assert record["Contact person"] == "'+1+1"
    assert record["Message"] == "'@SUM(A1:A9)"
    assert record["Phone"] == "'+49 89 123"
    assert record["Email"] == "x@example.com"


def test_sales_cannot_export_a_campaigns_leads(client, rep, campaign):
    client.force_login(rep)
    assert client.get(f"/campaigns/{campaign.pk}/leads.csv").status_code == 403


def test_rejected_leads_come_back_to_marketing_with_the_reason(
    client, marketer, campaign, rep, history
):
    client.force_login(marketer)
    html = client.get("/campaigns/nurturing/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "No Budget KG" in html and "Competitor SE" in html and "hat schon X" in html
    assert "Buyer GmbH" not in html
    only = client.get("/campaigns/nurturing/?reason=competitor").content.decode()
    assert "Competitor SE" in only and "No Budget KG" not in only
    export = client.get("/campaigns/nurturing/?format=csv", HTTP_ACCEPT_LANGUAGE="en")
    rows = list(csv.reader(io.StringIO(b"".join(export.streaming_content).decode("utf-8-sig"))))
    assert {(r[1], r[6]) for r in rows[1:]} == {
        ("No Budget KG", "No budget"),
        ("Competitor SE", "Competitor"),
    }


def test_the_campaign_page_offers_the_form_link_and_the_embed_snippet(client, marketer, campaign):
    client.force_login(marketer)
    html = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    assert f"http://testserver/f/{campaign.form_key}/" in html
    snippet = html_module.unescape(re.search(r'id="embed-snippet"[^>]*>(.*?)</textarea>', html)[1])
    assert snippet.startswith(
        f'<iframe src="http://testserver/f/{campaign.form_key}/embed/?lang=de"'
    )


def test_pages_render_in_german_and_english(client, marketer, campaign):
    client.force_login(marketer)
    for language in ("de", "en"):
        for url in (
            "/campaigns/",
            f"/campaigns/{campaign.pk}/",
            "/campaigns/new/",
            "/campaigns/nurturing/",
            "/campaigns/leads/new/",
            f"/campaigns/{campaign.pk}/import/",
        ):
            response = client.get(url, HTTP_ACCEPT_LANGUAGE=language)
            assert response.status_code == 200, url
            assert f'<html lang="{language}">' in response.content.decode(), url


def test_a_digital_material_is_listed_and_a_material_less_campaign_works_too(
    client, marketer, team
):
    campaign = CampaignFactory(
        name="Ohne Material",
        owner=marketer,
        team=team,
        materials=[InfoMaterialFactory(title="PDF", kind="digital")],
    )
    campaign.materials.clear()
    client.force_login(marketer)
    assert client.get(f"/campaigns/{campaign.pk}/").status_code == 200
