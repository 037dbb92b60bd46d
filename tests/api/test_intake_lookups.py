"""API intake keeps tokens, campaigns, SLA policies and webhook subscriptions in process
memory (leadbridge.lookups): every change to them must be seen by the very next request."""

import weakref

import pytest
from django.core.cache import cache
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from campaigns.models import Campaign
from followups.models import FollowUp, SlaPolicy
from integrations.models import ApiToken, WebhookDelivery, WebhookSubscription
from integrations.services import token_revoke, webhook_subscription_create
from leadbridge import lookups
from leads.models import Lead

from ..factories import InfoMaterialFactory
from ..problems import error_fields
from .conftest import api_client, lead_payload

pytestmark = pytest.mark.django_db


def post_lead(client, campaign, n, **fields):
    answer = client.post(
        "/api/v1/leads/",
        lead_payload(campaign, external_id=f"lk-{n}", email=f"lk{n}@example.com", **fields),
        format="json",
    )
    assert answer.status_code == 201, answer.content
    return Lead.objects.get(pk=answer.json()["id"])


def decision_due(lead):
    return lead.followups.get(kind=FollowUp.Kind.DECISION).due_at


def test_an_edited_sla_policy_counts_from_the_next_lead_on(marketer, campaign, rep):
    policy = SlaPolicy.objects.create(name="Messe", channel=campaign.channel, decision_due="1d")
    client = api_client(marketer)
    first = post_lead(client, campaign, 1)
    post_lead(client, campaign, 2)  # the policy is now kept in memory
    policy.decision_due = "3d"
    policy.save()
    third = post_lead(client, campaign, 3)
    assert decision_due(third) > decision_due(first)
    SlaPolicy.objects.filter(pk=policy.pk).update(decision_due="1d")  # no signal: the QuerySet
    assert decision_due(post_lead(client, campaign, 4)) == decision_due(first)


def test_a_new_channel_policy_replaces_the_default_for_the_next_lead(marketer, campaign, rep):
    client = api_client(marketer)
    post_lead(client, campaign, 1)  # the default policy, created and kept
    SlaPolicy.objects.create(name="Messe", channel=campaign.channel)
    followup = post_lead(client, campaign, 2).followups.first()
    assert followup.policy.name == "Messe"


def test_subscriptions_made_paused_or_of_a_deactivated_user_count_at_once(marketer, campaign, rep):
    client = api_client(marketer)
    post_lead(client, campaign, 1)  # "nobody listens" is now kept in memory
    subscription = webhook_subscription_create(
        user=marketer, name="CRM", url="https://crm.example/hook", events=["lead.created"]
    )
    post_lead(client, campaign, 2)
    assert WebhookDelivery.objects.count() == 1
    WebhookSubscription.objects.filter(pk=subscription.pk).update(is_active=False)
    post_lead(client, campaign, 3)
    assert WebhookDelivery.objects.count() == 1
    WebhookSubscription.objects.filter(pk=subscription.pk).update(is_active=True)
    post_lead(client, campaign, 4)
    assert WebhookDelivery.objects.count() == 2
    other = api_client(rep)  # the token's user stays active; the subscriber does not
    marketer.is_active = False
    marketer.save()
    assert other.get("/api/v1/users/me/").status_code == 200
    from integrations.services import _subscriptions_for

    assert _subscriptions_for("lead.created") == []


def test_a_revoked_token_is_refused_on_the_next_request(marketer, campaign, rep):
    client = api_client(marketer)
    assert client.get("/api/v1/users/me/").status_code == 200
    token_revoke(token=client.token, now=client.token.created_at)
    assert client.get("/api/v1/users/me/").status_code == 401


def test_a_token_whose_user_was_deactivated_is_refused(marketer):
    client = api_client(marketer)
    assert client.get("/api/v1/users/me/").status_code == 200
    marketer.is_active = False
    marketer.save(update_fields=["is_active"])
    assert client.get("/api/v1/users/me/").status_code == 401


def test_a_deleted_token_is_refused(marketer):
    client = api_client(marketer)
    assert client.get("/api/v1/users/me/").status_code == 200
    ApiToken.objects.filter(pk=client.token.pk).delete()
    assert client.get("/api/v1/users/me/").status_code == 401


def test_a_campaign_taken_back_to_planning_refuses_the_next_lead(marketer, campaign, rep):
    client = api_client(marketer)
    post_lead(client, campaign, 1)
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.PLANNED)
    answer = client.post("/api/v1/leads/", lead_payload(campaign, external_id="x"), format="json")
    assert answer.status_code == 400
    assert "campaign" in error_fields(answer)


def test_a_campaigns_new_first_material_is_the_one_requested_next(
    marketer, campaign, rep, printed_brochure
):
    client = api_client(marketer)
    assert post_lead(client, campaign, 1).requested_material == printed_brochure
    earlier = InfoMaterialFactory(title="Flyer", kind="digital")
    campaign.materials.set([earlier])  # m2m_changed: no save of either row
    assert post_lead(client, campaign, 2).requested_material == earlier


def test_another_process_changing_the_version_makes_this_one_read_again(settings):
    settings.LEADBRIDGE_LOOKUP_CACHE = "default"
    reads = []
    lookup = lookups.Lookup("test")
    assert lookup.get("k", lambda: reads.append(1) or "a") == "a"
    assert lookup.get("k", lambda: reads.append(1) or "b") == "a"
    cache.set("lookup-version:test", "set by another process")
    assert lookup.get("k", lambda: reads.append(1) or "c") == "c"
    assert len(reads) == 2


def test_without_a_shared_cache_every_call_reads_the_database(settings):
    settings.LEADBRIDGE_LOOKUP_CACHE = None
    lookup = lookups.Lookup("test")
    assert lookup.get("k", lambda: "a") == "a"
    assert lookup.get("k", lambda: "b") == "b"


def test_a_single_lead_takes_ten_statements_once_the_lookups_are_warm(marketer, campaign, rep):
    client = api_client(marketer)
    post_lead(client, campaign, 1)  # also notes the token's first use: that invalidates
    post_lead(client, campaign, 2)
    with CaptureQueriesContext(connection) as queries:
        post_lead(client, campaign, 3, requests_material=False)
    # The answer's check (Lead.objects.get in post_lead) is the test's own.
    statements = [
        q["sql"].split()[0]
        for q in queries.captured_queries[:-1]
        if not q["sql"].startswith(("BEGIN", "COMMIT", "SAVEPOINT", "RELEASE"))
    ]
    # The pipeline's batch of one: suppression check (privacy), repeat by external id,
    # known person, team lock, the team's reps, the first rep's leads today (up to its
    # capacity), the rep's stamp; the lead, its follow-ups, its timeline. Campaign,
    # policy and webhook subscriptions come from the warm lookups.
    reads = ["SELECT"] * 6
    assert statements == [*reads, "UPDATE", "INSERT", "INSERT", "INSERT"]


# --- PostgreSQL without a shared cache: LISTEN/NOTIFY tells the processes ----------


def _other_process():
    """A second connection to the test database, standing in for another worker."""
    import psycopg

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    return psycopg.connect(**params, autocommit=True)


def _delivered(seconds=5.0) -> None:
    """Wait until PostgreSQL has sent this connection something (the NOTIFY another
    connection committed): a wait on the socket, which returns as soon as it arrives."""
    import select

    readable, _w, _x = select.select([connection.connection.pgconn.socket], [], [], seconds)
    assert readable, "the notification did not arrive"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_notify_from_another_process_makes_this_one_read_again(settings):
    settings.LEADBRIDGE_LOOKUP_CACHE = None
    reads = []
    lookup = lookups.Lookup("test")
    assert lookup.get("k", lambda: reads.append(1) or "a") == "a"
    assert lookup.get("k", lambda: reads.append(1) or "b") == "a"  # kept, no statement
    with _other_process() as other:
        other.execute(f"NOTIFY {lookups.notifications.channel}")
    _delivered()
    assert lookup.get("k", lambda: "c") == "c"


@pytest.fixture
def listener(settings, marketer):
    """Another process's connection, listening where the lookups announce changes, from
    after the test's data is stored (creating the marketer announces a change itself)."""
    settings.LEADBRIDGE_LOOKUP_CACHE = None
    with _other_process() as other:
        other.execute(f"LISTEN {lookups.notifications.channel}")
        yield other


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_change_is_announced_to_other_processes_when_it_commits(listener, marketer):
    with transaction.atomic():
        marketer.is_active = False
        marketer.save()  # invalidates
        assert list(listener.notifies(timeout=0.2)) == []  # not before the commit
    assert [n.channel for n in listener.notifies(timeout=2, stop_after=1)] == [
        lookups.notifications.channel
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_change_rolled_back_is_not_announced(listener, marketer):
    with pytest.raises(RuntimeError), transaction.atomic():
        marketer.save()
        raise RuntimeError
    assert list(listener.notifies(timeout=0.3)) == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_token_revoked_by_another_process_is_refused_on_the_next_request(settings, marketer):
    settings.LEADBRIDGE_LOOKUP_CACHE = None
    client = api_client(marketer)
    assert client.get("/api/v1/users/me/").status_code == 200
    assert client.get("/api/v1/users/me/").status_code == 200  # the token is kept in memory
    with _other_process() as other, other.transaction():
        other.execute(
            "UPDATE integrations_apitoken SET revoked_at = now() WHERE id = %s", [client.token.pk]
        )
        other.execute(f"NOTIFY {lookups.notifications.channel}")
    _delivered()
    assert client.get("/api/v1/users/me/").status_code == 401


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_new_connection_forgets_what_was_kept(settings):
    settings.LEADBRIDGE_LOOKUP_CACHE = None
    lookup = lookups.Lookup("test")
    assert lookup.get("k", lambda: "a") == "a"
    assert lookup.get("k", lambda: "b") == "a"
    connection.close()  # what was announced while nobody listened is unknown
    assert lookup.get("k", lambda: "c") == "c"


@pytest.mark.postgres
def test_inside_a_transaction_block_a_first_listen_waits_so_every_call_reads(settings, monkeypatch):
    settings.LEADBRIDGE_LOOKUP_CACHE = None
    # As on a connection that has not listened yet.
    monkeypatch.setattr(lookups.notifications, "_listening", weakref.WeakSet())
    lookup = lookups.Lookup("test")
    assert lookup.get("k", lambda: "a") == "a"
    assert lookup.get("k", lambda: "b") == "b"
