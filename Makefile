# LeadBridge developer commands. The two you need: `make run` and `make test`.
#
# Everything runs from .venv, built with a Python >= 3.12 that bin/find-python
# finds (the machine's python3 may be 3.11, on which pip quietly picks an old
# Django). With no DATABASE_URL / REDIS_URL the app runs embedded: SQLite and a
# file-system Celery broker under ./var. If they are set they pass through.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV := .venv
PY := $(VENV)/bin/python
PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check
PORT ?= 8000
PYTEST_ARGS ?=
BENCH_ARGS ?=

# Output of web, worker and beat shows up as it happens under honcho.
export PYTHONUNBUFFERED := 1

.PHONY: help venv install install-test migrate demo run collectstatic test chromium lint format bench

help:
	@echo "make run     migrate, seed demo data, start gunicorn (http://127.0.0.1:$(PORT)/, DEBUG off) + Celery worker + beat"
	@echo "make test    run the test suite (PYTEST_ARGS='-k sweep' to narrow it)"
	@echo "make migrate | demo | collectstatic | lint | format | bench | venv | install"

# (Re)build .venv when it is missing or holds a Python older than 3.12.
venv:
	@if ! $(PY) -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then \
	    base="$$(bin/find-python)" || exit 1; \
	    if [ -e $(VENV) ]; then echo "Rebuilding $(VENV): it does not hold a working Python >= 3.12"; rm -rf $(VENV); fi; \
	    echo "Creating $(VENV) with $$base"; \
	    "$$base" -m venv $(VENV); \
	fi

# Reinstall only when pyproject.toml changed: each stamp is a copy of the
# pyproject.toml that was last installed. The test extras include everything
# the app needs, so a test install also satisfies the run stamp.
install: venv
	@if ! cmp -s pyproject.toml $(VENV)/.installed-run; then \
	    echo "Installing LeadBridge into $(VENV) (first run or pyproject.toml changed)"; \
	    $(PIP_INSTALL) -e . && cp pyproject.toml $(VENV)/.installed-run; \
	fi

install-test: venv
	@if ! cmp -s pyproject.toml $(VENV)/.installed-test; then \
	    echo "Installing LeadBridge with test extras into $(VENV) (first run or pyproject.toml changed)"; \
	    $(PIP_INSTALL) -e '.[test]' && cp pyproject.toml $(VENV)/.installed-test \
	        && cp pyproject.toml $(VENV)/.installed-run; \
	fi

# `make run` runs LeadBridge as production would, on the embedded default: gunicorn,
# DEBUG off, hashed static files collected for whitenoise, a SECRET_KEY generated
# once into the data folder (settings read it there, so `manage.py` commands in this
# checkout need no exports). Plain http on 127.0.0.1: secure cookies off.
# `DEBUG=true make run` is the debugging mode: tracebacks, static files from the
# source folders, no collectstatic.
DATA_DIR := $(or $(LEADBRIDGE_DATA_DIR),var)
SECRET_KEY_FILE := $(DATA_DIR)/secret_key
RUN_DEBUG := $(filter 1 true yes on,$(shell printf '%s' '$(DEBUG)' | tr A-Z a-z))
migrate demo run collectstatic: export DEBUG ?= false
run: export SESSION_COOKIE_SECURE ?= false
run: export CSRF_COOKIE_SECURE ?= false
# Links in the emails the worker prints should point at this server.
run: export LEADBRIDGE_BASE_URL ?= http://127.0.0.1:$(PORT)

# Written once, never overwritten: sessions and password-reset links depend on it.
$(SECRET_KEY_FILE): | venv
	@mkdir -p $(@D)
	@umask 077 && $(PY) -c 'import secrets; print(secrets.token_urlsafe(50))' >$@.new && mv $@.new $@
	@echo "Generated SECRET_KEY into $@ (mode 600)"

# Collected again only when a file under static/ or the installed packages changed:
# the manifest is written last, so its time says when the last collect finished.
STATIC_MANIFEST := staticfiles/staticfiles.json
$(STATIC_MANIFEST): $(shell find static -type f) $(VENV)/.installed-run | $(SECRET_KEY_FILE)
	@echo "Collecting static files (hashed, compressed) into staticfiles/"
	DEBUG=false $(PY) manage.py collectstatic --noinput --clear --verbosity 0
collectstatic: install $(STATIC_MANIFEST)
# `make install` writes the stamp; when it is missing, collect again.
$(VENV)/.installed-run: ;

migrate: install $(SECRET_KEY_FILE)
	$(PY) manage.py migrate --noinput

# migrate, seed_demo, refresh_dashboard in one process (bin/prepare-run). seed_demo
# refuses DEBUG off (demo users with a known password): here they are what we want.
demo: install $(SECRET_KEY_FILE)
	DEBUG=true $(PY) bin/prepare-run

# collectstatic (when needed) runs beside the database's preparation (make demo):
# two cores, two single-threaded jobs. honcho: --env /dev/null because settings
# read only the real environment; a .env file picked up by honcho alone would make
# web and migrate disagree.
run: install $(SECRET_KEY_FILE)
	@$(PY) bin/check-port $(PORT)
	@$(MAKE) --no-print-directory -j2 demo $(if $(RUN_DEBUG),,$(STATIC_MANIFEST))
	@echo "LeadBridge: http://127.0.0.1:$(PORT)/  (marketing | rep | manager | admin, password leadbridge-demo), DEBUG=$(DEBUG). Ctrl-C stops web, worker and beat."
	@PATH="$(CURDIR)/$(VENV)/bin:$$PATH" exec $(VENV)/bin/honcho start -f Procfile.dev --env /dev/null --port $(PORT)

# make turns any failure into exit 2, so say here when pytest found nothing (5):
# we always have tests, and "no tests ran" must not read like a pass.
test: export DEBUG := true
test: install-test chromium
	@echo "$(PY) -m pytest $(PYTEST_ARGS)"; \
	$(PY) -m pytest $(PYTEST_ARGS); status=$$?; \
	if [ $$status = 5 ]; then echo "pytest collected no tests (exit 5): check PYTEST_ARGS and tests/." >&2; fi; \
	exit $$status

# The browser tests drive Debian's Chromium (never `playwright install`, which
# downloads its own browser).
chromium:
	@if [ ! -x /usr/bin/chromium ]; then \
	    if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	        echo "Installing Debian chromium for the browser tests"; \
	        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	    else \
	        echo "No /usr/bin/chromium: the browser tests will fail. Install it: sudo apt-get install chromium chromium-driver"; \
	    fi; \
	fi

lint: install-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: install-test
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# Every bench/*.py (not _helpers) in turn; results go to docs/PERFORMANCE.md.
# They need PostgreSQL: DATABASE_URL=postgres://... make bench [BENCH_ARGS="--leads 100000"]
bench: export DEBUG := true
bench: install-test
	@found=0; for script in bench/*.py; do \
	    [ -e "$$script" ] || continue; \
	    case "$$(basename "$$script")" in _*) continue;; esac; \
	    found=1; echo "== $$script $(BENCH_ARGS)"; $(PY) "$$script" $(BENCH_ARGS) || exit 1; \
	done; \
	[ $$found = 1 ] || echo "No benchmarks in bench/ yet."
