"""GDPR on the public form: each language shows its own consent text, the text shown is
what is stored (with its language, as the lead's lawful basis), the privacy notice is
linked, and marketing emails need a separate box confirmed by double opt-in."""

import importlib
import re
from datetime import timedelta

import pytest
import time_machine
from django.apps import apps as django_apps
from django.core import mail
from django.test import Client
from django.utils import timezone, translation

from campaigns.models import Campaign, Channel, OptInEmail
from campaigns.services import opt_in_emails_send
from leads.models import Lead, LeadEvent

from ..factories import CampaignFactory

GERMAN_DEFAULT = (
    "Ich bin damit einverstanden, dass meine Angaben verwendet werden, um mir das "
    "Material zu senden und mich zu kontaktieren."
)
ENGLISH_DEFAULT = "I agree that my details are used to send me the material and contact me."


@pytest.fixture
def website(team, rep, marketer):
    # Created while the UI speaks English: the old column default stored English text
    # here, which the German form then showed.
    with translation.override("en"):
        return CampaignFactory(name="Website", channel=Channel.WEBSITE, owner=marketer, team=team)


def _page(campaign, lang: str, client=None) -> str:
    client = client or Client()
    return client.get(f"/f/{campaign.form_key}/?lang={lang}").content.decode()


def _post(campaign, lang: str, **extra):
    client = Client()
    page = _page(campaign, lang, client)
    nonce = re.search(r'name="nonce" value="([^"]+)"', page)[1]
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
        **extra,
    }
    return client.post(f"/f/{campaign.form_key}/", data, follow=True)


# --- consent per language --------------------------------------------------------------


def test_the_german_and_english_forms_show_their_own_consent_text(website):
    german, english = _page(website, "de"), _page(website, "en")
    assert GERMAN_DEFAULT in german and ENGLISH_DEFAULT not in german
    assert ENGLISH_DEFAULT in english and GERMAN_DEFAULT not in english


def test_a_campaigns_own_text_shows_only_on_the_form_of_its_language(website):
    Campaign.objects.filter(pk=website.pk).update(consent_text="Ich willige ausdrücklich ein.")
    website.refresh_from_db()
    assert "Ich willige ausdrücklich ein." in _page(website, "de")
    english = _page(website, "en")
    assert "Ich willige ausdrücklich ein." not in english and ENGLISH_DEFAULT in english
    Campaign.objects.filter(pk=website.pk).update(consent_text_en="I expressly agree.")
    assert "I expressly agree." in _page(website, "en")


@pytest.mark.parametrize(("lang", "shown"), [("de", GERMAN_DEFAULT), ("en", ENGLISH_DEFAULT)])
def test_the_lead_keeps_the_text_shown_its_language_and_consent_as_its_basis(
    website, rep, lang, shown
):
    before = timezone.now()
    response = _post(website, lang)
    assert response.status_code == 200
    lead = Lead.objects.get()
    assert (lead.consent_text, lead.consent_language) == (shown, lang)
    assert (lead.lawful_basis, lead.lawful_basis_source) == ("consent", "web_form")
    assert before <= lead.lawful_basis_at == lead.consent_at <= timezone.now()


def test_the_privacy_notice_is_linked_under_the_consent_when_set(website, settings):
    settings.LEADBRIDGE_PRIVACY_URL = "https://www.example.com/datenschutz"
    german, english = _page(website, "de"), _page(website, "en")
    assert 'href="https://www.example.com/datenschutz"' in german
    assert "Datenschutzerklärung" in german
    assert 'href="https://www.example.com/datenschutz"' in english and "privacy notice" in english
    settings.LEADBRIDGE_PRIVACY_URL = ""
    assert "datenschutz" not in _page(website, "de")


def test_stored_old_defaults_give_way_to_the_text_of_each_forms_language(db, website):
    Campaign.objects.filter(pk=website.pk).update(consent_text=ENGLISH_DEFAULT)
    kept = CampaignFactory(consent_text="Eigener Text.")
    migration = importlib.import_module(
        "campaigns.migrations.0005_consent_per_language_opt_in_email"
    )
    migration.forget_stored_defaults(django_apps, None)
    website.refresh_from_db()
    kept.refresh_from_db()
    assert (website.consent_text, kept.consent_text) == ("", "Eigener Text.")
    assert website.consent_text_for("de") == GERMAN_DEFAULT


# --- double opt-in for marketing emails ------------------------------------------------


def test_the_marketing_box_is_separate_from_the_consent_and_not_ticked(website):
    page = _page(website, "de")
    box = re.search(r'<input type="checkbox" name="marketing"[^>]*>', page)[0]
    assert "checked" not in box and "required" not in box
    assert re.search(r'<input type="checkbox" name="consent"[^>]*required', page)


def test_without_the_box_nobody_is_asked_and_nothing_is_marketing_consent(website, rep):
    _post(website, "de")
    lead = Lead.objects.get()
    assert not OptInEmail.objects.exists() and lead.marketing_consent_requested_at is None
    assert not lead.has_marketing_consent and not Lead.objects.with_marketing_consent().exists()


def test_the_box_needs_an_email_address(website, rep):
    response = _post(website, "en", email="", marketing="on")
    assert "We send news by email: please give your email address." in response.content.decode()
    assert not Lead.objects.exists()


def _ticked(website, lang="de"):
    response = _post(website, lang, marketing="on")
    lead = Lead.objects.get()
    return response, lead


def _link_path(message) -> str:
    return re.search(r"https?://[^/\s]+(/f/opt-in/[^\s]+)", message.body)[1]


def test_a_ticked_box_is_not_consent_until_confirmed_and_the_email_goes_out_once(website, rep):
    response, lead = _ticked(website)
    assert 'data-testid="opt-in-sent"' in response.content.decode()
    assert lead.marketing_consent_requested_at == lead.consent_at
    assert lead.marketing_consent_text.startswith("Ich möchte")
    assert not lead.has_marketing_consent and lead.marketing_consent_pending
    assert not Lead.objects.with_marketing_consent().exists()
    assert OptInEmail.objects.get(lead=lead).state == "pending"
    # The worker's ticks: the first sends, a second (or a doubled beat) finds nothing.
    assert opt_in_emails_send(now=timezone.now()) == 1
    assert opt_in_emails_send(now=timezone.now()) == 0
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["erika@muster.example"] and "bestätigen" in message.subject
    assert "/f/opt-in/" in message.body and "?lang=de" in message.body
    assert OptInEmail.objects.get(lead=lead).state == "sent"


def test_the_link_asks_then_confirms_once_and_the_lead_page_says_so(website, rep, client, marketer):
    _response, lead = _ticked(website, "en")
    opt_in_emails_send(now=timezone.now())
    path = _link_path(mail.outbox[0])
    # Opening the link (a mail scanner does too) changes nothing; the button confirms.
    page = Client().get(path)
    assert page.status_code == 200 and 'data-state="open"' in page.content.decode()
    assert Lead.objects.get().marketing_consent_confirmed_at is None
    confirmed = Client().post(path, {"lang": "en"})
    assert 'data-state="confirmed"' in confirmed.content.decode()
    lead.refresh_from_db()
    first = lead.marketing_consent_confirmed_at
    assert first is not None and lead.has_marketing_consent
    assert list(Lead.objects.with_marketing_consent()) == [lead]
    # Single use: a second click says so and changes nothing.
    again = Client().post(path, {"lang": "en"})
    assert again.status_code == 200 and 'data-state="already"' in again.content.decode()
    lead.refresh_from_db()
    assert lead.marketing_consent_confirmed_at == first
    assert LeadEvent.objects.filter(lead=lead, kind="marketing_ok").count() == 1
    client.force_login(marketer)
    detail = client.get(f"/leads/{lead.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "allowed: confirmed on" in detail


def test_an_unconfirmed_request_shows_as_no_marketing_consent_on_the_lead_page(
    website, rep, client, marketer
):
    _response, lead = _ticked(website, "en")
    client.force_login(marketer)
    detail = client.get(f"/leads/{lead.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "not allowed: asked for on" in detail and "not confirmed yet" in detail


def test_an_expired_link_shows_a_friendly_page_and_confirms_nothing(website, rep):
    _response, lead = _ticked(website)
    opt_in_emails_send(now=timezone.now())
    path = _link_path(mail.outbox[0])
    with time_machine.travel(timezone.now() + timedelta(days=6, hours=23)):
        assert 'data-state="open"' in Client().get(path).content.decode()
    with time_machine.travel(timezone.now() + timedelta(days=7, minutes=1)):
        page = Client().get(path)
        assert page.status_code == 410
        assert "Dieser Bestätigungslink ist abgelaufen" in page.content.decode()
        assert Client().post(path).status_code == 410
    lead.refresh_from_db()
    assert lead.marketing_consent_confirmed_at is None


def test_a_garbled_link_or_one_for_a_changed_address_confirms_nothing(website, rep):
    _response, lead = _ticked(website, "en")
    opt_in_emails_send(now=timezone.now())
    path = _link_path(mail.outbox[0])
    broken = path.replace("/?", "x/?")
    assert Client().post(broken).status_code == 404
    Lead.objects.filter(pk=lead.pk).update(email="someone.else@example.com")
    response = Client().post(path)
    assert response.status_code == 404 and 'data-state="invalid"' in response.content.decode()
    lead.refresh_from_db()
    assert lead.marketing_consent_confirmed_at is None
