"""A bad environment stops LeadBridge with one readable line, not a traceback.

Each case runs `manage.py check` in a fresh interpreter, because settings are
read once per process. bin/check-port (used by `make run`) is covered here too.
"""

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV_VARS = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG")


def _run(*args: str, env_overrides: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ENV_VARS}
    env.update(env_overrides or {})
    return subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def _assert_one_line_error(result: subprocess.CompletedProcess, *, mentions: str) -> None:
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert mentions in lines[0]


@pytest.mark.parametrize(
    ("env", "mentions"),
    [
        ({"DEBUG": "true", "DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
        ({"DEBUG": "true", "DATABASE_URL": "postgres://host:notaport/db"}, "DATABASE_URL"),
        ({"DEBUG": "true", "REDIS_URL": "http://x"}, "REDIS_URL"),
        ({"DEBUG": "false"}, "SECRET_KEY"),
        ({"DEBUG": "maybe"}, "DEBUG"),
        ({"DEBUG": "true", "LEADBRIDGE_PRIVACY_URL": "datenschutz.html"}, "LEADBRIDGE_PRIVACY_URL"),
    ],
    ids=[
        "mysql-database-url",
        "non-numeric-db-port",
        "http-redis-url",
        "no-secret-key",
        "debug-maybe",
        "relative-privacy-url",
    ],
)
def test_manage_py_refuses_a_bad_environment_with_one_line(env, mentions, tmp_path):
    # A data folder of its own: the checkout's var/ may hold make run's secret_key.
    env = {**env, "LEADBRIDGE_DATA_DIR": str(tmp_path)}
    _assert_one_line_error(_run("manage.py", "check", env_overrides=env), mentions=mentions)


def test_with_debug_off_the_secret_key_comes_from_the_data_folder(tmp_path):
    """make run writes var/secret_key once; manage.py commands then need no exports."""
    (tmp_path / "secret_key").write_text("a-key-make-run-wrote-" + "k" * 40 + "\n")
    probe = "from django.conf import settings; print(settings.SECRET_KEY)"
    result = _run(
        "manage.py",
        "shell",
        "-c",
        probe,
        env_overrides={"DEBUG": "false", "LEADBRIDGE_DATA_DIR": str(tmp_path)},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1] == "a-key-make-run-wrote-" + "k" * 40


def test_secret_key_in_the_environment_wins_over_the_file(tmp_path):
    (tmp_path / "secret_key").write_text("from-the-file")
    probe = "from django.conf import settings; print(settings.SECRET_KEY)"
    env = {"DEBUG": "false", "LEADBRIDGE_DATA_DIR": str(tmp_path), "SECRET_KEY": "from-env"}
    result = _run("manage.py", "shell", "-c", probe, env_overrides=env)
    assert result.stdout.splitlines()[-1] == "from-env", result.stderr


def test_manage_py_check_passes_with_the_embedded_defaults():
    result = _run("manage.py", "check", env_overrides={"DEBUG": "true"})
    assert result.returncode == 0, result.stderr


def test_check_port_reports_a_port_in_use_in_one_line():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _run("bin/check-port", str(port))
    _assert_one_line_error(result, mentions=f"Port {port} is in use")
    assert f"PORT={port + 1} make run" in result.stderr


def test_check_port_accepts_a_free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    assert _run("bin/check-port", str(port)).returncode == 0


def test_env_example_documents_every_variable_settings_read():
    source = (ROOT / "leadbridge" / "settings.py").read_text()
    source += (ROOT / "leadbridge" / "env.py").read_text()
    read = set(
        re.findall(r"(?:env_\w+|redis_url|os\.environ\.get)\(\s*\"([A-Z][A-Z0-9_]+)\"", source)
    )
    documented = set(
        re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M)
    )
    assert read, "found no environment reads in settings"
    assert read <= documented, f"missing from .env.example: {sorted(read - documented)}"


def test_a_celery_worker_with_a_bad_redis_url_says_so_in_one_line():
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {**os.environ, "DEBUG": "true", "REDIS_URL": "http://x"}
    result = subprocess.run(
        [sys.executable, "-m", "celery", "-A", "leadbridge", "worker", "--pool", "solo"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "REDIS_URL must look like redis://" in result.stderr
    assert "Traceback" not in result.stderr
