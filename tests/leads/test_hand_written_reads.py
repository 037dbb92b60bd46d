"""rep_for and the duplicate check read their rows with hand-written SQL (leads.services
._fetch_one): the instances must be what the ORM reads, on SQLite and PostgreSQL alike."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import User
from leads.models import Lead
from leads.services import _known, rep_for

from ..factories import receive_lead

pytestmark = pytest.mark.django_db


def _same_as_the_orm(got):
    fresh = type(got).objects.get(pk=got.pk)
    for field in type(got)._meta.concrete_fields:
        assert getattr(got, field.attname) == getattr(fresh, field.attname), field.name
        value = getattr(got, field.attname)
        if hasattr(value, "tzinfo") and hasattr(value, "hour"):
            assert timezone.is_aware(value), field.name  # SQLite hands back naive text


def test_the_rep_chosen_is_read_as_the_orm_reads_it(team, rep):
    User.objects.filter(pk=rep.pk).update(last_assigned_at=timezone.now() - timedelta(days=1))
    chosen = rep_for(team=team, now=timezone.now())
    assert chosen == rep
    _same_as_the_orm(chosen)


def test_the_known_lead_is_read_as_the_orm_reads_it(campaign, rep):
    lead = receive_lead(
        campaign=campaign, external_id="K-1", received_at=timezone.now() - timedelta(hours=3)
    )
    known = _known(campaign=campaign, external_id="K-1", dedup_key=lead.dedup_key)
    assert known == lead and known.repeat
    _same_as_the_orm(known)
    assert isinstance(known, Lead)
