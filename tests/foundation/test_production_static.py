"""With DEBUG off, pages link hashed static files that collectstatic wrote and whitenoise serves.

The rest of the suite runs on the plain storage settings pick when DEBUG is on (as
`make test` sets it). Here collectstatic runs with the production storage into a
temporary STATIC_ROOT, then pages render and their assets load through whitenoise:
a vendored file whose source map reference dangles, or a template naming a static
file that is not there, fails here and not in the Docker build or on the server.
"""

import re

import pytest
from django.core.management import call_command
from django.test import override_settings

from tests.factories import UserFactory

# What settings.py picks when DEBUG is off (see STORAGES there).
PRODUCTION_STATIC = {
    "STORAGES": {
        "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    },
    "WHITENOISE_USE_FINDERS": False,
    "WHITENOISE_AUTOREFRESH": False,
}
# The file, without the #fragment an icon's <use href="sprite.svg#name"> carries.
ASSET = re.compile(r'(?:src|href)="(/static/[^"#]+)[^"]*"')


@pytest.fixture(scope="module")
def static_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("staticfiles")
    with override_settings(DEBUG=False, STATIC_ROOT=root, **PRODUCTION_STATIC):
        call_command("collectstatic", "--noinput", verbosity=0)
    return root


@pytest.fixture
def production(settings, static_root):
    settings.DEBUG = False
    settings.STATIC_ROOT = static_root
    for name, value in PRODUCTION_STATIC.items():
        setattr(settings, name, value)
    return settings


def _page_and_assets(client, path: str) -> list[str]:
    response = client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    assets = ASSET.findall(response.content.decode())
    assert assets, f"{path} links no static files"
    for asset in assets:
        # Hashed names (name.0123456789ab.ext): the manifest was used, so they can be cached forever.
        assert re.search(r"\.[0-9a-f]{12}\.\w+$", asset), asset
        served = client.get(asset)
        assert served.status_code == 200, asset
        # The test client closes the file once its content is read.
        b"".join(served.streaming_content)
    return assets


def test_the_login_page_links_hashed_static_files_that_are_served(production, client):
    assets = _page_and_assets(client, "/login/")
    assert any("leadbridge." in asset for asset in assets)


@pytest.mark.django_db
def test_chart_pages_and_api_docs_load_their_static_files_with_debug_off(
    production, client, manager, campaign
):
    client.force_login(manager)
    _page_and_assets(client, "/dashboard/")
    _page_and_assets(client, f"/campaigns/{campaign.pk}/")
    _page_and_assets(client, "/api/v1/docs/")
    _page_and_assets(client, f"/f/{campaign.form_key}/")


@pytest.mark.django_db
def test_the_admin_loads_its_static_files_with_debug_off(production, client):
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    _page_and_assets(client, "/admin/")
