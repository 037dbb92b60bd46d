"""seed_demo: the demo company LeadBridge is shown with (leads/management/commands/seed_demo.py).

Seeding takes seconds, so the module seeds once (committed) and wipes the test
database afterwards, as transactional tests do; each test still runs in its own
rolled-back transaction. Shares are computed from raw rows on purpose, not with
reporting.metrics: the demo must tell the before/after story whatever the
dashboard's definitions become.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command
from django.db.models import F, Max
from django.test import RequestFactory
from django.test.utils import override_settings
from django.utils import timezone

from accounts.models import Role, RoutingRule, Team, User
from campaigns.models import Campaign, InfoMaterial, MaterialEmail
from followups.models import Escalation, FollowUp, Notification, SlaPolicy
from leads.models import Lead, LeadEvent, Source

LEADS = 200  # a quarter of the default; the story is the same
MD5 = "django.contrib.auth.hashers.MD5PasswordHasher"
SENT = ["posted", "emailed"]  # material follow-ups closed by a dispatch, not with the lead


def seed() -> str:
    out = StringIO()
    call_command("seed_demo", leads=LEADS, stdout=out)
    return out.getvalue()


@dataclass
class Demo:
    out: str
    now: datetime


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        try:
            # The hasher of conftest's _fast_and_quiet, which is not active at module scope.
            with override_settings(DEBUG=True, PASSWORD_HASHERS=[MD5]):
                demo = Demo(out=seed(), now=timezone.now())
                # What `make run` does next: the dashboard reads this rollup.
                call_command("refresh_dashboard", stdout=StringIO())
            yield demo
        finally:
            call_command("flush", interactive=False, verbosity=0)


def _counts() -> dict[str, int]:
    models = [User, Team, RoutingRule, InfoMaterial, SlaPolicy, Campaign, Lead, LeadEvent]
    models += [FollowUp, Escalation, Notification, MaterialEmail]
    counts = {model.__name__: model.objects.count() for model in models}
    # Rows changed in place, not only added, would move these.
    for model in (Lead, FollowUp, User, Campaign):
        latest = model.objects.aggregate(
            latest=Max("updated_at" if model is not User else "last_login")
        )
        counts[f"{model.__name__} changed"] = latest["latest"]
    return counts


@pytest.mark.django_db
def test_it_refuses_to_run_without_debug(settings):
    settings.DEBUG = False
    before = _counts()

    with pytest.raises(CommandError, match="it runs only with DEBUG=true"):
        call_command("seed_demo", leads=LEADS, stdout=StringIO())

    assert _counts() == before


@pytest.mark.django_db
def test_running_it_again_changes_nothing(demo, settings):
    settings.DEBUG = True
    before = _counts()

    out = seed()

    assert "demo data created" in demo.out
    assert "demo data already present" in out
    assert _counts() == before
    assert Lead.objects.filter(source=Source.DEMO).count() == LEADS == before["Lead"]


@pytest.mark.django_db
def test_the_demo_users_log_in_with_the_demo_password(demo, client):
    for username, role in [
        ("marketing", Role.MARKETING),
        ("rep", Role.REP),
        ("manager", Role.MANAGER),
        ("admin", Role.ADMIN),
    ]:
        # A request, as every log-in has one (django-axes counts failures per address).
        request = RequestFactory().post("/login/")
        user = authenticate(request, username=username, password="leadbridge-demo")
        assert user is not None, username
        assert user.role == role
        assert user.email == f"{username}@example.com"
        assert user.first_name and user.last_name
    rep, manager, admin = (User.objects.get(username=n) for n in ("rep", "manager", "admin"))
    assert rep.team == manager.team and rep.team.name == "Vertrieb Süd"
    assert admin.is_superuser and admin.is_staff
    response = client.post("/login/", {"username": "rep", "password": "leadbridge-demo"})
    assert response.status_code == 302 and "_auth_user_id" in client.session
    assert User.objects.filter(role=Role.REP).count() == 12
    assert Team.objects.filter(members__role=Role.MANAGER).distinct().count() == 3


@pytest.mark.django_db
def test_every_lead_has_follow_ups_due_no_earlier_than_its_receipt(demo):
    for lead in Lead.objects.prefetch_related("followups"):
        kinds = {f.kind for f in lead.followups.all()}
        assert FollowUp.Kind.DECISION in kinds and kinds & {"material", "callback"}, lead.pk
        assert all(f.due_at >= lead.received_at for f in lead.followups.all()), lead.pk
    # Nothing happened before a lead arrived, and nothing in the future.
    now = demo.now
    assert not Lead.objects.filter(received_at__gt=now).exists()
    assert not FollowUp.objects.filter(completed_at__lt=F("lead__received_at")).exists()
    assert not FollowUp.objects.filter(completed_at__gt=now).exists()
    assert not LeadEvent.objects.filter(at__lt=F("lead__received_at")).exists()
    assert not LeadEvent.objects.filter(at__gt=now).exists()
    assert not Lead.objects.filter(decided_at__lt=F("received_at")).exists()
    assert not Lead.objects.filter(decided_at__gt=now).exists()


def _figures(leads) -> tuple[float, float]:
    """(share of material requests sent by the overdue point, share of leads called back)."""
    material = FollowUp.objects.filter(lead__in=leads, kind=FollowUp.Kind.MATERIAL)
    on_time = material.filter(outcome__in=SENT, completed_at__lte=F("overdue_at")).count()
    called = (
        FollowUp.objects.filter(lead__in=leads, kind=FollowUp.Kind.CALLBACK, outcome="reached")
        .values("lead")
        .distinct()
        .count()
    )
    return on_time / material.count(), called / leads.count()


@pytest.mark.django_db
def test_the_older_half_shows_the_problem_and_the_newer_half_the_cure(demo):
    split = demo.now - timedelta(days=45)
    before = Lead.objects.filter(received_at__lt=split)
    # Leave out the last week: it is still being worked (the reps' queues today).
    after = Lead.objects.filter(
        received_at__gte=split, received_at__lt=demo.now - timedelta(days=7)
    )

    on_time_before, called_before = _figures(before)
    on_time_after, called_after = _figures(after)

    assert before.count() > LEADS / 3 and after.count() > LEADS / 4
    assert on_time_before < 0.35 < 0.65 < on_time_after
    assert called_before < 0.2 < 0.55 < called_after
    # The field study's three weeks: about a fifth of the old requests went out that late.
    material_before = FollowUp.objects.filter(lead__in=before, kind=FollowUp.Kind.MATERIAL)
    three_weeks = material_before.filter(
        outcome__in=SENT, completed_at__gte=F("lead__received_at") + timedelta(days=17)
    )
    assert 0.1 < three_weeks.count() / material_before.count() < 0.35
    assert after.exclude(decision="").count() / after.count() > 0.7
    assert before.exclude(decision="").count() / before.count() < 0.4


@pytest.mark.django_db
def test_leads_go_to_the_team_of_their_postcode_unless_the_campaign_names_one(demo):
    south, west, north = (
        Team.objects.get(name=name) for name in ("Vertrieb Süd", "Vertrieb West", "Vertrieb Nord")
    )
    by_first_digit = {"7": south, "8": south, "9": south, "4": west, "5": west, "6": west}
    routed = Lead.objects.filter(campaign__team__isnull=True, country="DE")
    assert routed.exists()
    for lead in routed:
        assert lead.team == by_first_digit.get(lead.postcode[0], north), lead.postcode
    assert not Lead.objects.filter(owner__isnull=True).exists()


@pytest.mark.django_db
def test_the_demo_rep_has_overdue_and_upcoming_follow_ups(demo):
    mine = FollowUp.objects.open().filter(assignee__username="rep")

    assert mine.overdue(demo.now).exists()
    assert mine.filter(overdue_at__gt=demo.now).exists()
    # The newest lead in the rep's queue came in minutes ago.
    newest = Lead.objects.filter(owner__username="rep").order_by("-received_at").first()
    assert demo.now - newest.received_at < timedelta(minutes=30)


def _landing(client, username: str):
    # Through the log-in form: django-axes needs the request a real log-in has.
    response = client.post("/login/", {"username": username, "password": "leadbridge-demo"})
    assert response.status_code == 302, username
    response = client.get("/", follow=True)
    assert response.status_code == 200, username
    return response


@pytest.mark.django_db
def test_the_rep_lands_on_a_queue_with_overdue_and_upcoming_work(demo, client):
    response = _landing(client, "rep")

    assert response.redirect_chain[-1][0] == "/queue/"
    sections = {s["name"]: s for s in response.context["sections"]}
    assert sections["overdue"]["rows"] and sections["upcoming"]["rows"]
    for section in sections.values():
        assert all(t.assignee.username == "rep" for row in section["rows"] for t in row.tasks)


@pytest.mark.django_db
def test_the_manager_lands_on_a_dashboard_with_weeks_of_history(demo, client):
    response = _landing(client, "manager")

    assert response.redirect_chain[-1][0] == "/dashboard/"
    tiles = {t["key"]: t["value"] for t in response.context["tiles"]}
    assert tiles["leads"] > 0 and tiles["overdue_now"] > 0
    chart = response.context["chart"]
    # Thirteen weeks; the older ones show the problem, the newer the cure.
    calls = chart["series"]["call_rate"]["values"]
    weeks_with_figures = [rate for rate in calls if rate is not None]
    assert len(chart["weeks"]) == 13 and len(weeks_with_figures) >= 12
    assert min(weeks_with_figures[:4]) < 30 < 50 < max(weeks_with_figures[-6:])
    # The headline share tells the same story: most were never called before, few after.
    never = [s for s in chart["series"]["never_called_share"]["values"] if s is not None]
    assert max(never[:4]) > 70 > 50 > min(never[-6:])


@pytest.mark.django_db
def test_marketing_lands_on_campaigns_that_show_what_became_of_their_leads(demo, client):
    response = _landing(client, "marketing")

    assert response.redirect_chain[-1][0] == "/campaigns/"
    campaigns = list(response.context["campaigns"])
    producing = [c for c in campaigns if c.status != Campaign.Status.PLANNED]
    assert len(producing) >= 10 and len(campaigns) > len(producing)
    for campaign in producing:
        assert campaign.lead_count > 0, campaign.name
        # The plan's expectation fits the demo's size (it scales with --leads).
        assert (
            campaign.expected_responses / 2
            <= campaign.lead_count
            <= 2 * campaign.expected_responses
        )
    assert sum(c.accepted for c in producing) > 0 and sum(c.rejected for c in producing) > 0


@pytest.mark.django_db
def test_the_admin_lands_on_the_dashboard_and_reaches_the_admin(demo, client):
    response = _landing(client, "admin")

    assert response.redirect_chain[-1][0] == "/dashboard/"
    assert client.get("/admin/").status_code == 200


@pytest.mark.django_db
def test_the_team_leads_were_told_about_escalations(demo):
    manager = User.objects.get(username="manager")

    assert Notification.objects.filter(recipient=manager).exists()
    assert Escalation.objects.filter(level=Escalation.Level.MANAGER).exists()
