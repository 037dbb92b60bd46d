"""The public enquiry form of a campaign: no login, German and English, consent stored,
honeypot and rate limit, embeddable, and a thank-you page that says when."""

import logging
import re
import shutil

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from campaigns.models import Campaign, Channel
from campaigns.services import material_emails_send
from followups.models import FollowUp
from leadbridge import outages
from leads.models import Lead

from ..factories import CampaignFactory, InfoMaterialFactory
from ..foundation.test_outages import OwnRedis


@pytest.fixture
def webinar(team, rep, marketer):
    whitepaper = InfoMaterialFactory(
        title="Whitepaper Antriebe", kind="digital", url="https://example.com/wp.pdf"
    )
    return CampaignFactory(
        name="Webinar Antriebe",
        channel=Channel.WEBSITE,
        owner=marketer,
        team=team,
        materials=[whitepaper],
        consent_text="Ich bin einverstanden, dass meine Angaben zur Beantwortung genutzt werden.",
        consent_text_en="I agree that my details are used to answer me.",
    )


def _form(campaign, client=None, lang="", **extra):
    client = client or Client()
    page = client.get(f"/f/{campaign.form_key}/" + (f"?lang={lang}" if lang else ""))
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.content.decode())[1]
    data = {
        "contact_name": "Erika Muster",
        "company": "Muster GmbH",
        "email": "erika@muster.example",
        "phone": "089 1234567",
        "country": "DE",
        "consent": "on",
        "nonce": nonce,
        "website": "",
        "lang": lang,
    }
    material = campaign.materials.first()
    if material:
        data["material"] = material.pk
    data.update(extra)
    return client, data


def test_the_form_opens_without_login_in_german_and_english(webinar):
    client = Client()
    german = client.get(f"/f/{webinar.form_key}/", HTTP_ACCEPT_LANGUAGE="de")
    assert german.status_code == 200
    html = german.content.decode()
    assert '<html lang="de">' in html and webinar.consent_text in html
    english = client.get(f"/f/{webinar.form_key}/?lang=en").content.decode()
    assert (
        '<html lang="en">' in english
        and "I agree that my details are used to answer me." in english
    )
    assert "Send enquiry" in english
    assert client.get("/f/not-a-key/").status_code == 404


def test_a_submitted_form_becomes_a_lead_with_the_consent_text_shown_and_its_time(webinar, rep):
    client, data = _form(webinar, lang="en")
    before = timezone.now()
    response = client.post(f"/f/{webinar.form_key}/", data)
    assert (
        response.status_code == 302 and f"/f/{webinar.form_key}/thanks/?t=" in response["Location"]
    )
    lead = Lead.objects.get()
    assert (lead.source, lead.campaign, lead.channel, lead.owner) == (
        "web_form",
        webinar,
        "website",
        rep,
    )
    assert lead.consent_text == "I agree that my details are used to answer me."
    assert before <= lead.consent_at <= timezone.now() and lead.received_at == lead.consent_at
    assert lead.requested_material == webinar.materials.get()


def test_digital_material_is_emailed_at_once_and_the_thank_you_page_says_when_sales_calls(
    webinar, rep
):
    client, data = _form(webinar, lang="en")
    response = client.post(f"/f/{webinar.form_key}/", data, follow=True)
    lead = Lead.objects.get()
    assert material_emails_send(now=timezone.now()) == 1  # the worker's next run
    assert [m.to for m in mail.outbox] == [["erika@muster.example"]]
    assert "https://example.com/wp.pdf" in mail.outbox[0].body
    callback = lead.followups.get(kind=FollowUp.Kind.CALLBACK, completed_at__isnull=True)
    html = response.content.decode()
    assert "We are emailing you “Whitepaper Antriebe” now" in html
    due = timezone.localtime(callback.due_at)
    assert re.search(rf"contact you by [^<]*{due.year}[^<]*{due:%H:%M}", html)


def test_printed_material_the_page_names_the_dispatch_deadline_and_the_call_after_it(
    team, rep, marketer, printed_brochure
):
    fair = CampaignFactory(name="Messe", owner=marketer, team=team, materials=[printed_brochure])
    client, data = _form(fair, lang="en", street="Hauptstr. 1", postcode="80331", city="München")
    response = client.post(f"/f/{fair.form_key}/", data, follow=True)
    lead = Lead.objects.get()
    material = lead.followups.get(kind="material")
    assert material.rule == "material_printed" and material.completed_at is None
    html = response.content.decode()
    assert "We will send you Katalog 2026 by" in html
    assert "after that, by" in html
    assert mail.outbox == []


def test_printed_material_needs_a_postal_address(team, rep, marketer, printed_brochure):
    fair = CampaignFactory(name="Messe", owner=marketer, team=team, materials=[printed_brochure])
    client, data = _form(fair, lang="en")
    response = client.post(f"/f/{fair.form_key}/", data)
    assert (
        response.status_code == 200
        and "We post this material: please give your address." in response.content.decode()
    )
    assert not Lead.objects.exists()


def test_without_consent_nothing_is_stored(webinar):
    client, data = _form(webinar, lang="en")
    del data["consent"]
    response = client.post(f"/f/{webinar.form_key}/", data)
    assert "Please agree so that we may answer you." in response.content.decode()
    assert not Lead.objects.exists()


def test_a_filled_honeypot_looks_like_success_and_stores_nothing(webinar):
    client, data = _form(webinar, lang="en", website="http://spam.example")
    response = client.post(f"/f/{webinar.form_key}/", data)
    assert response.status_code == 200 and "Thank you for your enquiry" in response.content.decode()
    assert not Lead.objects.exists()


def test_the_rate_limit_stops_a_flood_from_one_address_with_a_clear_message(webinar, settings):
    settings.LEADBRIDGE_WEBFORM_RATE = (3, 600)
    client = Client(REMOTE_ADDR="203.0.113.9")
    for i in range(3):
        _client, data = _form(webinar, client=client, lang="en", email=f"bot{i}@spam.example")
        assert client.post(f"/f/{webinar.form_key}/", data).status_code == 302
    _client, data = _form(webinar, client=client, lang="en", email="bot9@spam.example")
    response = client.post(f"/f/{webinar.form_key}/", data)
    assert response.status_code == 429 and response["Retry-After"] == "600"
    assert "Please try again in 10 minutes." in response.content.decode()
    assert Lead.objects.count() == 3
    # another address is not affected
    other = Client(REMOTE_ADDR="198.51.100.7")
    _client, data = _form(webinar, client=other, lang="en", email="human@example.com")
    assert other.post(f"/f/{webinar.form_key}/", data).status_code == 302


def test_with_redis_down_the_rate_limit_fails_open_and_the_form_still_takes_leads(
    webinar, settings, monkeypatch, caplog
):
    """The limit counts in Redis (_rate_limited); a lead is worth more than the spam
    guard, so with Redis gone the form takes the enquiry and says so once in the log."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed")
    redis = OwnRedis(ports=range(8600, 8621))  # this test's own range on the shared machine
    try:
        settings.CACHES = {
            **settings.CACHES,
            "webform": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": redis.url,
            },
        }
        settings.LEADBRIDGE_WEBFORM_CACHE = "webform"
        settings.LEADBRIDGE_WEBFORM_RATE = (1, 600)
        monkeypatch.setattr(outages, "_last_warned", {})
        client = Client(REMOTE_ADDR="203.0.113.9")
        _client, data = _form(webinar, client=client, lang="en", email="first@example.com")
        assert client.post(f"/f/{webinar.form_key}/", data).status_code == 302
        _client, data = _form(webinar, client=client, lang="en", email="second@example.com")
        assert client.post(f"/f/{webinar.form_key}/", data).status_code == 429  # Redis counts

        redis.kill()
        with caplog.at_level(logging.WARNING, logger="leadbridge.outages"):
            for email in ("third@example.com", "fourth@example.com"):
                _client, data = _form(webinar, client=client, lang="en", email=email)
                assert client.post(f"/f/{webinar.form_key}/", data).status_code == 302
    finally:
        redis.kill()
    assert set(Lead.objects.values_list("email", flat=True)) == {
        "first@example.com",
        "third@example.com",
        "fourth@example.com",
    }
    warned = [r.getMessage() for r in caplog.records if r.name == "leadbridge.outages"]
    assert len(warned) == 1 and warned[0].startswith("Web-form rate limit off")


def test_a_double_click_stays_one_lead(webinar):
    client, data = _form(webinar, lang="en")
    first = client.post(f"/f/{webinar.form_key}/", data)
    second = client.post(f"/f/{webinar.form_key}/", data)
    assert first.status_code == second.status_code == 302
    assert Lead.objects.count() == 1


def test_only_the_embed_views_may_be_framed(webinar):
    client = Client()
    assert client.get(f"/f/{webinar.form_key}/")["X-Frame-Options"] == "DENY"
    embedded = client.get(f"/f/{webinar.form_key}/embed/?lang=en")
    assert embedded.status_code == 200 and "X-Frame-Options" not in embedded
    _client, data = _form(webinar, client=client, lang="en")
    response = client.post(f"/f/{webinar.form_key}/embed/", data)
    assert f"/f/{webinar.form_key}/embed/thanks/" in response["Location"]
    assert "X-Frame-Options" not in client.get(response["Location"])


def test_the_form_works_without_a_csrf_cookie_as_inside_a_foreign_iframe(webinar):
    client = Client(enforce_csrf_checks=True)
    _client, data = _form(webinar, client=client, lang="en")
    client.cookies.clear()
    assert client.post(f"/f/{webinar.form_key}/embed/", data).status_code == 302


@pytest.mark.parametrize(
    ("status", "code", "text"), [("planned", 404, "not open yet"), ("ended", 410, "has ended")]
)
def test_a_campaign_that_is_not_running_has_a_closed_form(webinar, status, code, text):
    Campaign.objects.filter(pk=webinar.pk).update(status=status)
    response = Client().get(f"/f/{webinar.form_key}/?lang=en")
    assert response.status_code == code and text in response.content.decode()


def test_a_forged_thank_you_token_shows_no_ones_data(webinar):
    response = Client().get(f"/f/{webinar.form_key}/thanks/?t=forged&lang=en")
    assert (
        response.status_code == 200 and "We have received your message" in response.content.decode()
    )


def test_the_form_chooses_no_material_in_advance_and_a_caller_picks_none(
    team, rep, marketer, printed_brochure
):
    fair = CampaignFactory(name="Messe", owner=marketer, team=team, materials=[printed_brochure])
    page = Client().get(f"/f/{fair.form_key}/?lang=en").content.decode()
    radios = re.findall(r'<input type="radio" name="material"[^>]*>', page)
    # "No material, thank you" stands chosen: the catalogue is posted only when picked.
    assert [("checked" in radio) for radio in radios] == [True, False]
    assert 'value="" id="id_material_0" checked' in radios[0]
    assert "Katalog 2026 – by post" in page and "(optional)" in page

    client, data = _form(fair, lang="en", wants_call="on")
    del data["material"]
    data["email"] = ""
    response = client.post(f"/f/{fair.form_key}/", data)
    assert response.status_code == 302  # no address asked for: nothing is posted
    lead = Lead.objects.get()
    assert not lead.requests_material and lead.wants_call
    assert not lead.followups.filter(kind="material").exists()
