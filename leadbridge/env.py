"""Small, loud readers for environment variables.

settings.py is the only caller. A bad value raises ImproperlyConfigured with a
one-line message; manage.py, wsgi.py and celery.py print that line and exit.
"""

import os
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean; use true or false.")


def env_url(name: str, default: str = "") -> str:
    """An absolute http(s) URL, or the default when unset or empty."""
    raw = env_str(name)
    if not raw:
        return default
    parts = urlsplit(raw)
    if parts.scheme not in {"http", "https"} or not parts.netloc or any(c.isspace() for c in raw):
        raise ImproperlyConfigured(
            f"{name}={raw!r} is not an absolute http(s) URL, e.g. https://example.com/privacy."
        )
    return raw


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or not raw.strip():
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def database_from_url(url: str, *, sqlite_path: Path) -> dict:
    """DATABASES['default'] from DATABASE_URL; empty means SQLite at sqlite_path."""
    if not url:
        return {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": sqlite_path,
            # WAL + IMMEDIATE: web, worker and beat write to one file without
            # "database is locked" errors on the embedded default.
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
            "TEST": {"NAME": sqlite_path.with_name("test.sqlite3")},
        }
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return {"ENGINE": "django.db.backends.sqlite3", "NAME": unquote(parts.path) or sqlite_path}
    if parts.scheme not in {"postgres", "postgresql", "pgsql"}:
        raise ImproperlyConfigured(
            f"DATABASE_URL must start with postgres:// (got {parts.scheme or 'no scheme'!r}), "
            "e.g. postgres://postgres@127.0.0.1:5432/leadbridge"
        )
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise ImproperlyConfigured(
            "DATABASE_URL names no database, e.g. postgres://postgres@127.0.0.1:5432/leadbridge"
        )
    try:
        port = parts.port
    except ValueError:
        raise ImproperlyConfigured("DATABASE_URL has a port that is not a number.") from None
    options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(port or ""),
        "CONN_MAX_AGE": env_int("DATABASE_CONN_MAX_AGE", 60),
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": options,
    }


def redis_url(name: str) -> str:
    url = env_str(name)
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in {"redis", "rediss"} or not parts.hostname:
        raise ImproperlyConfigured(f"{name} must look like redis://127.0.0.1:6379/0 (got {url!r}).")
    try:
        _ = parts.port  # raises ValueError for a non-numeric port
    except ValueError:
        raise ImproperlyConfigured(f"{name} has a port that is not a number.") from None
    return url
