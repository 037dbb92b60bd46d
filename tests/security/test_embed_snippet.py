"""V6: the embed snippet on the campaign page is one iframe whatever the campaign's name."""

import html
import re
from html.parser import HTMLParser

import pytest

from campaigns.models import Campaign


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


@pytest.mark.django_db
@pytest.mark.parametrize(
    "name",
    [
        'Spring fair" onload="alert(document.domain)',
        "Messe <script>alert(1)</script> & Co",
        'O\'Neil "Quoted" </textarea><b>bold</b>',
    ],
)
def test_the_snippet_keeps_any_name_inside_the_title(client, marketer, campaign, name):
    Campaign.objects.filter(pk=campaign.pk).update(name=name)
    client.force_login(marketer)
    page = client.get(f"/campaigns/{campaign.pk}/").content.decode()
    # What the textarea shows (and the user copies): its content, unescaped once.
    shown = html.unescape(re.search(r'id="embed-snippet"[^>]*>(.*?)</textarea>', page, re.S)[1])
    parser = _Tags()
    parser.feed(shown)
    assert [tag for tag, _attrs in parser.tags] == ["iframe"], shown
    attrs = parser.tags[0][1]
    assert attrs["title"] == name
    assert not any(key.startswith("on") for key in attrs)
    assert attrs["src"].endswith(f"/f/{campaign.form_key}/embed/?lang=de")
