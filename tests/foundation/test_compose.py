"""docker-compose.yml is valid and wired to code that exists.

There is no Docker engine on the dev and CI machines, so these tests are what
stands between a typo in the compose file and a stack that never comes up.
compose-spec validates the format; it does not check `depends_on` targets or
named volumes, so those are checked here by hand.
"""

import importlib
import re
from pathlib import Path

import pytest
import yaml
from celery import Celery
from celery.app.utils import find_app
from compose_spec import PyOptions
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SERVICES = ("postgres", "redis", "web", "worker", "beat")
APP_SERVICES = ("web", "worker", "beat")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


def _as_text(command) -> str:
    """A compose command or healthcheck test (string or list) as one string."""
    return command if isinstance(command, str) else " ".join(str(part) for part in command)


def _commands(compose: dict) -> list[str]:
    texts = []
    for service in compose["services"].values():
        if "command" in service:
            texts.append(_as_text(service["command"]))
        if "healthcheck" in service:
            texts.append(_as_text(service["healthcheck"]["test"]))
    return texts


def test_compose_file_is_valid_compose_spec():
    # apply_merge: the file shares one `x-app` block through YAML merge keys.
    parsed = PyOptions(apply_merge=True).from_yaml(COMPOSE_FILE.read_text())
    parsed.validate()
    spec = parsed.to_spec()
    assert sorted(spec.services) == sorted(SERVICES)


def test_compose_file_uses_the_modern_format_without_a_version_key(compose):
    assert "version" not in compose


def test_it_defines_exactly_the_five_services(compose):
    assert sorted(compose["services"]) == sorted(SERVICES)


def test_every_depends_on_target_is_a_service(compose):
    services = compose["services"]
    for name, service in services.items():
        for target in service.get("depends_on", {}):
            assert target in services, f"{name} depends on unknown service {target!r}"


def test_app_services_wait_for_healthy_postgres_and_redis(compose):
    for name in APP_SERVICES:
        depends_on = compose["services"][name]["depends_on"]
        for backing in ("postgres", "redis"):
            assert depends_on[backing]["condition"] == "service_healthy", (name, backing)


def test_worker_and_beat_wait_for_web_which_runs_the_migrations(compose):
    assert "migrate" in _as_text(compose["services"]["web"]["command"])
    for name in ("worker", "beat"):
        assert compose["services"][name]["depends_on"]["web"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_has_a_healthcheck(compose, name):
    healthcheck = compose["services"][name].get("healthcheck")
    assert healthcheck and healthcheck.get("test"), f"{name} has no healthcheck"


def test_web_healthcheck_fetches_healthz(compose):
    assert "/healthz" in _as_text(compose["services"]["web"]["healthcheck"]["test"])


def test_web_worker_and_beat_build_the_same_image(compose):
    services = compose["services"]
    builds = {
        name: (services[name].get("build"), services[name].get("image")) for name in APP_SERVICES
    }
    assert len(set(builds.values())) == 1, builds
    assert services["web"]["build"] in (".", {"context": "."})


def test_named_volumes_are_declared(compose):
    declared = set(compose.get("volumes") or {})
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            if isinstance(volume, str):
                source = volume.split(":", 1)[0]
            else:
                source = volume.get("source", "")
            if source and not source.startswith((".", "/", "~")):
                assert source in declared, f"{name} mounts undeclared volume {source!r}"


def test_app_services_run_production_settings_with_a_required_secret_key(compose):
    for name in APP_SERVICES:
        environment = compose["services"][name]["environment"]
        assert environment["DEBUG"] == "false"
        assert environment["SECRET_KEY"].startswith("${SECRET_KEY:?")
        assert environment["DATABASE_URL"].startswith("postgres://")
        assert environment["REDIS_URL"].startswith("redis://redis:6379")


# Building the WSGI app makes whitenoise look for collected static files, which
# only the Docker image has.
@pytest.mark.filterwarnings("ignore:No directory at:UserWarning")
def test_gunicorn_serves_a_wsgi_application_that_exists(compose):
    targets = re.findall(r"gunicorn\s+([\w.]+):(\w+)", " ".join(_commands(compose)))
    assert targets, "no gunicorn command found"
    for module_path, attribute in targets:
        application = getattr(importlib.import_module(module_path), attribute)
        assert callable(application)


def test_celery_app_named_with_dash_a_exists(compose):
    names = set(re.findall(r"-A\s+([\w.:]+)", " ".join(_commands(compose))))
    assert names, "no celery -A found"
    for name in names:
        assert isinstance(find_app(name), Celery), name


def test_manage_py_commands_in_compose_exist(compose):
    used = set(re.findall(r"manage\.py\s+(\w+)", " ".join(_commands(compose))))
    assert used
    assert used <= set(get_commands()), used - set(get_commands())
