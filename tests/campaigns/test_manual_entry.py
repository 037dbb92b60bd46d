"""A single lead typed in by hand: a phone enquiry."""

from datetime import timedelta

from django.utils import timezone

from followups.models import FollowUp
from leads.models import Lead


def _post(client, **fields):
    received = timezone.localtime(timezone.now() - timedelta(hours=3)).replace(
        second=0, microsecond=0
    )
    data = {
        "channel": "phone",
        "received_at": received.strftime("%Y-%m-%dT%H:%M"),
        "contact_name": "Paul Phone",
        "company": "Telefon GmbH",
        "phone": "089 555555",
        "country": "DE",
        "lawful_basis": "contract",
        **fields,
    }
    return client.post("/campaigns/leads/new/", data, HTTP_ACCEPT_LANGUAGE="en"), received


def test_a_phone_enquiry_becomes_a_lead_with_deadlines_counted_from_the_call(
    client, marketer, rep, campaign
):
    client.force_login(marketer)
    response, received = _post(client, campaign=campaign.pk, wants_call="on")
    lead = Lead.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/leads/{lead.pk}/"
    assert (lead.source, lead.campaign, lead.received_at, lead.owner) == (
        "manual",
        campaign,
        received,
        rep,
    )
    callback = lead.followups.get(kind=FollowUp.Kind.CALLBACK)
    assert callback.starts_at == received
    page = client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en").content.decode()
    due = f"{timezone.localtime(callback.due_at):%-d %b %Y %H:%M}"  # English short format
    assert "Lead saved. Deadlines: " in page and f"Call back: {due}" in page


def test_without_a_campaign_the_channel_is_taken_from_the_form(client, rep, team):
    from accounts.models import RoutingRule

    RoutingRule.objects.create(team=team, channel="phone")
    client.force_login(rep)  # a rep who took the call enters it
    response, _received = _post(client)
    lead = Lead.objects.get()
    assert (lead.channel, lead.campaign, lead.owner) == ("phone", None, rep)
    assert response["Location"] == f"/leads/{lead.pk}/"


def test_verbal_consent_is_stored_with_the_campaigns_text_in_the_language_read_out(
    client, marketer, rep, campaign
):
    client.force_login(marketer)
    _post(
        client, campaign=campaign.pk, consent="on", email="paul@example.com", lawful_basis="consent"
    )
    lead = Lead.objects.get()
    assert lead.consent_text == campaign.consent_text_for("en") and lead.consent_language == "en"
    assert lead.consent_at == lead.received_at
    assert (lead.lawful_basis, lead.lawful_basis_source, lead.lawful_basis_at) == (
        "consent",
        "manual",
        lead.consent_at,
    )


def test_a_lead_typed_in_stores_the_lawful_basis_chosen_with_its_source_and_time(
    client, marketer, rep, campaign
):
    client.force_login(marketer)
    response, received = _post(client, campaign=campaign.pk, lawful_basis="legitimate_interest")
    lead = Lead.objects.get()
    assert response.status_code == 302
    assert (lead.lawful_basis, lead.lawful_basis_source, lead.lawful_basis_at) == (
        "legitimate_interest",
        "manual",
        received,
    )
    page = client.get(f"/leads/{lead.pk}/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Legitimate interest (Art. 6(1)(f) GDPR)" in page


def test_the_lawful_basis_must_be_chosen_and_consent_needs_the_consent(
    client, marketer, rep, campaign
):
    client.force_login(marketer)
    response, _received = _post(client, campaign=campaign.pk, lawful_basis="")
    assert response.status_code == 200
    assert "Choose the lawful basis on which this lead is kept." in response.content.decode()
    response, _received = _post(client, campaign=campaign.pk, lawful_basis="consent")
    assert response.status_code == 200
    assert (
        "Consent as the lawful basis needs the consent to have been given."
        in response.content.decode()
    )
    response, _received = _post(client, campaign=campaign.pk, lawful_basis="friendship")
    assert response.status_code == 200
    assert not Lead.objects.exists()


def test_a_known_person_is_pointed_out(client, marketer, rep, campaign):
    client.force_login(marketer)
    _post(client, campaign=campaign.pk, email="paul@example.com")
    response, _received = _post(client, campaign=campaign.pk, email="paul@example.com")
    first = Lead.objects.order_by("pk").first()
    page = client.get(response["Location"], HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert f"This person is known already: see lead {first.pk}." in page
    assert Lead.objects.count() == 2  # a new enquiry is still a new lead


def test_a_time_of_receipt_in_the_future_or_no_way_to_reach_is_refused(client, marketer):
    client.force_login(marketer)
    later = timezone.localtime(timezone.now() + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response, _ = _post(client, received_at=later)
    assert "The time of receipt cannot lie in the future." in response.content.decode()
    response, _ = _post(client, phone="")
    assert "Give an email address, a phone number or a postal address." in response.content.decode()
    assert not Lead.objects.exists()
