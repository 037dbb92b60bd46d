"""factory_boy factories: the one place tests build rows."""

from datetime import datetime

import factory
from django.utils import timezone

from accounts.models import Role, Team, User
from campaigns.models import Campaign, Channel, InfoMaterial
from leads.intake import lead_receive
from leads.models import Lead, Source


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Team {n}")
    region = "DE-BY"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name", locale="de_DE")
    last_name = factory.Faker("last_name", locale="de_DE")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    role = Role.REP
    password = factory.django.Password("pw")


class InfoMaterialFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = InfoMaterial

    title = factory.Sequence(lambda n: f"Brochure {n}")
    kind = InfoMaterial.Kind.PRINTED


class CampaignFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Campaign
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Campaign {n}")
    channel = Channel.TRADE_FAIR
    owner = factory.SubFactory(UserFactory, role=Role.MARKETING)
    status = Campaign.Status.ACTIVE
    starts_on = factory.LazyFunction(lambda: timezone.localdate())
    expected_responses = 100

    @factory.post_generation
    def materials(self, create, extracted, **kwargs):
        if create and extracted:
            self.materials.set(extracted)


def receive_lead(
    *,
    campaign: Campaign | None = None,
    received_at: datetime | None = None,
    now: datetime | None = None,
    **fields,
) -> Lead:
    """A lead received through the real intake service (routing, follow-ups, timeline)."""
    now = now or timezone.now()
    data = {
        "company": "Muster GmbH",
        "contact_name": "Erika Mustermann",
        "email": f"lead{Lead.objects.count() + 1}@example.com",
        "channel": campaign.channel if campaign else Channel.WEBSITE,
        "received_at": received_at or now,
        "lawful_basis": "contract",
        **fields,
    }
    return lead_receive(data=data, source=Source.MANUAL, now=now, campaign=campaign).lead
