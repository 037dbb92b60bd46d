"""The main navigation marks the entry of the page one is on, and only that one."""

import re

import pytest

from ..factories import receive_lead


def current_entries(html: str) -> list[str]:
    return re.findall(r'<a href="([^"]+)" aria-current="page">', html)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("path", "entry"),
    [
        ("/queue/", "/queue/"),
        ("/dashboard/", "/dashboard/"),
        ("/campaigns/leads/new/", "/campaigns/leads/new/"),
        ("/integrations/", "/integrations/"),
    ],
)
def test_a_rep_sees_where_they_are(client, rep, path, entry):
    client.force_login(rep)
    assert current_entries(client.get(path).content.decode()) == [entry]


@pytest.mark.django_db
def test_campaign_pages_mark_campaigns_and_the_nurturing_list_its_own_entry(
    client, marketer, campaign
):
    client.force_login(marketer)
    assert current_entries(client.get(f"/campaigns/{campaign.pk}/").content.decode()) == [
        "/campaigns/"
    ]
    assert current_entries(client.get("/campaigns/nurturing/").content.decode()) == [
        "/campaigns/nurturing/"
    ]


@pytest.mark.django_db
def test_a_lead_page_marks_no_entry_and_every_entry_has_an_icon(client, rep, campaign):
    lead = receive_lead(campaign=campaign)
    client.force_login(rep)
    html = client.get(f"/leads/{lead.pk}/").content.decode()
    assert current_entries(html) == []
    nav = html[html.index('class="mainnav"') : html.index("</nav>")]
    assert nav.count("<a ") == nav.count('<svg class="icon"') > 3
