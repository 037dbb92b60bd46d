"""One format per language for dates, times, money and counts, in templates and in Python."""

from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.template import Context, Template
from django.utils import translation
from django.utils.formats import date_format

from campaigns.models import InfoMaterial
from leads.models import ImportJob

from ..factories import CampaignFactory

AFTERNOON = datetime(2026, 12, 7, 14, 6, tzinfo=ZoneInfo("Europe/Berlin"))


def render(source: str, **context) -> str:
    return Template("{% load ui %}" + source).render(Context(context))


@pytest.mark.parametrize(("language", "expected"), [("de", "4.500,00\u00a0€"), ("en", "€4,500.00")])
def test_money_is_grouped_with_two_decimals_and_the_sign_where_the_language_puts_it(
    language, expected
):
    with translation.override(language):
        assert render("{{ amount|money }}", amount=Decimal("4500")) == expected
        assert render("{{ amount|money }}", amount=None) == "—"


@pytest.mark.parametrize(
    ("language", "short_datetime", "short_date", "day_month"),
    [
        ("de", "07.12.2026 14:06", "07.12.2026", "07.12."),
        ("en", "7 Dec 2026 14:06", "7 Dec 2026", "7 Dec"),
    ],
)
def test_each_language_has_one_date_format_with_a_24_hour_clock(
    language, short_datetime, short_date, day_month
):
    with translation.override(language):
        assert date_format(AFTERNOON, "SHORT_DATETIME_FORMAT") == short_datetime
        assert date_format(AFTERNOON.date(), "SHORT_DATE_FORMAT") == short_date
        assert date_format(AFTERNOON.date(), "MONTH_DAY_FORMAT") == day_month
        assert render('{{ at|date:"SHORT_DATETIME_FORMAT" }}', at=AFTERNOON) == short_datetime
        assert render("{{ at|time }}", at=AFTERNOON) == "14:06"


def test_an_info_material_names_its_kind_in_one_word():
    brochure = InfoMaterial(title="Preisliste", kind=InfoMaterial.Kind.PRINTED)
    with translation.override("de"):
        assert str(brochure) == "Preisliste (gedruckt)"
    with translation.override("en"):
        assert str(InfoMaterial(title="Price list", kind="digital")) == "Price list (digital)"


@pytest.mark.django_db
def test_the_campaign_list_shows_budgets_in_german_and_a_sign_off_without_team(client, marketer):
    CampaignFactory(owner=marketer, name="Messe", budget=Decimal("4500"), team=None)
    campaign = CampaignFactory(owner=marketer, name="Anzeige", budget=Decimal("1234.5"))
    campaign.signed_off_at = AFTERNOON
    campaign.team = None
    campaign.save()
    client.force_login(marketer)
    page = client.get("/campaigns/", HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "4.500,00\u00a0€" in page and "1.234,50\u00a0€" in page
    assert "None" not in page and "freigegeben" in page


@pytest.mark.django_db
def test_import_counts_are_singular_for_one(campaign, marketer):
    job = ImportJob(
        pk=1, campaign=campaign, created_by=marketer, total=3, done=3, status=ImportJob.Status.DONE
    )
    job.created_count, job.duplicate_count, job.failed = 1, 1, 1
    with translation.override("de"):
        html = Template('{% include "leads/_import_progress.html" %}').render(Context({"job": job}))
    assert "1 Lead angelegt" in html and "1 bekannter Lead" in html
    assert "1 fehlerhafte Zeile " in html or "1 fehlerhafte Zeile<" in html
