"""LeadBridge settings: one module, driven by environment variables.

With no environment at all it runs embedded: SQLite and a file-system Celery
broker under ./var. DATABASE_URL / REDIS_URL switch to PostgreSQL and Redis.
See .env.example and the README's configuration table.
"""

from datetime import timedelta
from pathlib import Path

from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

from .env import database_from_url, env_bool, env_int, env_list, env_str, env_url, redis_url

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(env_str("LEADBRIDGE_DATA_DIR") or BASE_DIR / "var")
DATA_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
# SECRET_KEY from the environment, else from DATA_DIR/secret_key: `make run` writes
# that file once (mode 600), so manage.py commands in its checkout need no exports.
SECRET_KEY_FILE = DATA_DIR / "secret_key"
SECRET_KEY = env_str("SECRET_KEY") or (
    SECRET_KEY_FILE.read_text(encoding="utf-8").strip() if SECRET_KEY_FILE.is_file() else ""
)
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            f"SECRET_KEY is not set and DEBUG is off; set SECRET_KEY, write one to "
            f"{SECRET_KEY_FILE} (make run does), or DEBUG=true for local use."
        )
    SECRET_KEY = "insecure-local-only-key-do-not-use-in-production"
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "leadbridge.api",
    "accounts",
    "campaigns",
    "leads",
    "followups",
    "integrations",
    "privacy",
    # Reads the apps above and is imported by none of them: the dashboard.
    "reporting",
    # Last, as its docs ask: it counts failed log-ins and locks (settings below).
    "axes",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Database or Redis down: 503 + Retry-After, JSON under /api/, a page elsewhere.
    "leadbridge.outages.OutageMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    # /api/: English unless Accept-Language asks for German (the UI stays German).
    "leadbridge.api.locale.ApiLanguageMiddleware",
    # /api/: a query parameter the operation's schema does not list is a 400.
    "leadbridge.api.filters.KnownQueryParamsMiddleware",
    # /api/: a 201 names what it made in Location.
    "leadbridge.api.schema.CreatedLocationMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "leadbridge.middleware.NoStoreWhenSignedInMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # Turns a locked-out log-in into the lockout page (AXES_LOCKOUT_CALLABLE).
    "axes.middleware.AxesMiddleware",
    # RateLimit-* headers from the API throttle's count.
    "leadbridge.api.throttling.RateLimitHeaders",
]

ROOT_URLCONF = "leadbridge.urls"
WSGI_APPLICATION = "leadbridge.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "followups.context_processors.notifications",
                "leadbridge.ui.navigation",
            ],
            # The design system's tags and filters (icon, money): leadbridge/ui.py.
            "libraries": {"ui": "leadbridge.ui"},
        },
    },
]

DATABASE_URL = env_str("DATABASE_URL")
DATABASES = {"default": database_from_url(DATABASE_URL, sqlite_path=DATA_DIR / "db.sqlite3")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
# django-axes first: it refuses a locked-out log-in before the password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Password guessing: after LEADBRIDGE_LOGIN_FAILURES wrong passwords for one username
# from one address, that pair is locked for LEADBRIDGE_LOGIN_LOCKOUT_MINUTES (the web
# form, the admin and POST /api/v1/auth/token/ alike). Keyed by the pair, so a stranger
# elsewhere cannot lock a user out; the address by the same rule as every other limit.
AXES_FAILURE_LIMIT = env_int("LEADBRIDGE_LOGIN_FAILURES", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LEADBRIDGE_LOGIN_LOCKOUT_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_CLIENT_IP_CALLABLE = "leadbridge.client.client_ip"
AXES_LOCKOUT_CALLABLE = "accounts.views.login_locked"
AXES_RESET_ON_SUCCESS = True
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "de"
LANGUAGES = [("de", _("German")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Europe/Berlin"
USE_I18N = True
# One date/time format per language (German 07.12.2026 14:06, English 7 Dec 2026 14:06).
FORMAT_MODULE_PATH = ["leadbridge.formats"]
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = DATA_DIR / "media"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
    CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
    # Behind a TLS-terminating proxy: send http to https, and tell browsers to stay
    # there (HSTS). Off by default: `make run` and the compose file serve plain http.
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
    # Healthchecks ask over plain http from inside (compose, load balancers).
    SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", False)
    SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)

# Content-Security-Policy on every response (debug pages exempt themselves): scripts,
# styles, fonts and fetches from this origin only, and no inline script or style
# anywhere; templates link static files (templates/base.html turns off the style
# htmx would inject). Framing is left to X-Frame-Options: DENY, except the public
# web form a customer embeds (campaigns.views.webform_embed).
SECURE_CSP = {
    "default-src": [CSP.SELF],
    # Swagger UI and the admin draw icons from data: URIs in their stylesheets.
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "form-action": [CSP.SELF],
}

# --- email ---------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH") or str(DATA_DIR / "mail")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "LeadBridge <leadbridge@localhost>")

# --- celery --------------------------------------------------------------
REDIS_URL = redis_url("REDIS_URL")
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        # A late-acked message whose worker died whole (not just its child: that
        # one is requeued at once, reject_on_worker_lost) comes back after this.
        # It must outlast the longest hard time limit (the CSV import's, 1,900 s)
        # so a running task is never handed to a second worker; shorter than the
        # hour it was, so the daily digest (expires 3,600 s) still runs when it
        # comes back. A killed sweep's message comes back expired (25 s) and is
        # dropped: the next beat tick sweeps instead, the state being in the
        # database. tests/foundation/test_outages.py checks the limits.
        "visibility_timeout": 2400,
    }
else:
    _broker_dir = DATA_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TIMEZONE = TIME_ZONE
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# Late acks are opted into per task (only the idempotent sweeps); the default
# stays early-ack so a crash never runs a non-idempotent task twice.
CELERY_TASK_ACKS_LATE = False
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_TASK_TIME_LIMIT = 300
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BEAT_SCHEDULE_FILENAME = str(DATA_DIR / "celerybeat-schedule")
# Deadlines live in the database; beat only ticks the sweeps. Each entry
# expires before its next tick so a backlog never runs a pile of stale sweeps.
CELERY_BEAT_SCHEDULE = {
    # Every 30 s with the bell polling every 20 s: a deadline that passes shows
    # up in the rep's bell within a minute.
    "sweep-overdue": {
        "task": "followups.tasks.sweep_overdue_task",
        "schedule": 30.0,
        "options": {"expires": 25},
    },
    # Digital material goes out "at once": the outbox is read every 10 seconds.
    "send-material-emails": {
        "task": "campaigns.tasks.send_material_emails_task",
        "schedule": 10.0,
        "options": {"expires": 8},
    },
    # Double opt-in: the confirmation link goes out as quickly as the material.
    "send-opt-in-emails": {
        "task": "campaigns.tasks.send_opt_in_emails_task",
        "schedule": 10.0,
        "options": {"expires": 8},
    },
    "send-notification-emails": {
        "task": "followups.tasks.send_notification_emails_task",
        "schedule": 60.0,
        "options": {"expires": 50},
    },
    # The dashboard's figures are at most a tick (plus its run time) old; the issue allows 5 minutes.
    "refresh-dashboard-rollup": {
        "task": "reporting.tasks.refresh_dashboard_rollup_task",
        "schedule": 60.0,
        "options": {"expires": 50},
    },
    "weekly-summary": {
        "task": "reporting.tasks.send_weekly_summary_task",
        "schedule": crontab(hour=7, minute=0, day_of_week="mon"),
        "options": {"expires": 3600},
    },
    # Webhook deliveries are rows with next_attempt_at (backoff lives there, not in ETAs).
    "deliver-webhooks": {
        "task": "integrations.tasks.deliver_webhooks_task",
        "schedule": 15.0,
        "options": {"expires": 12},
    },
    "prune-idempotency-keys": {
        "task": "integrations.tasks.prune_idempotency_keys_task",
        "schedule": crontab(minute=17),
        "options": {"expires": 3000},
    },
    # Retention: anonymise what is past its period (bounded batches; the next tick goes on).
    "privacy-retention": {
        "task": "privacy.tasks.retention_task",
        "schedule": crontab(minute=41),
        "options": {"expires": 3000},
    },
    "daily-digest": {
        "task": "followups.tasks.send_daily_digest_task",
        "schedule": crontab(hour=7, minute=0, day_of_week="mon-fri"),
        "options": {"expires": 3600},
    },
}

# --- LeadBridge ----------------------------------------------------------
LEADBRIDGE_VERSION = "0.1.0"
LEADBRIDGE_DEFAULT_REGION = env_str("LEADBRIDGE_DEFAULT_REGION", "DE")
LEADBRIDGE_SWEEP_BATCH_SIZE = env_int("LEADBRIDGE_SWEEP_BATCH_SIZE", 5000)
# Connections that work a sweep's backlog at once (PostgreSQL; SQLite sweeps on one).
LEADBRIDGE_SWEEP_WORKERS = env_int("LEADBRIDGE_SWEEP_WORKERS", 2)
LEADBRIDGE_BASE_URL = env_str("LEADBRIDGE_BASE_URL", "http://127.0.0.1:8000")
# Public web forms: at most this many submissions per visitor IP and 10 minutes
# (spam guard beside the honeypot); behind a reverse proxy, how many
# X-Forwarded-For hops to trust for the visitor's address.
LEADBRIDGE_WEBFORM_RATE = (env_int("LEADBRIDGE_WEBFORM_RATE", 10), 600)
LEADBRIDGE_TRUSTED_PROXIES = env_int("LEADBRIDGE_TRUSTED_PROXIES", 0)
# The company's privacy notice, linked under the consent of every public form (GDPR
# Art. 13: the person learns there how their data is used). Empty: no link.
LEADBRIDGE_PRIVACY_URL = env_url("LEADBRIDGE_PRIVACY_URL")
# The share of material that should go out on time; the dashboard draws it as the target line.
LEADBRIDGE_SLA_TARGET = env_int("LEADBRIDGE_SLA_TARGET_PERCENT", 90) / 100

# Data protection (privacy/): the salt of the hashed emails the suppression list and the
# privacy logs keep (empty: derived from SECRET_KEY, which then must never change), and
# the retention defaults for teams without their own policy (admin: Retention policies).
LEADBRIDGE_PRIVACY_SALT = env_str("LEADBRIDGE_PRIVACY_SALT")
LEADBRIDGE_RETENTION_LEAD_MONTHS = env_int("LEADBRIDGE_RETENTION_LEAD_MONTHS", 24)
LEADBRIDGE_RETENTION_IMPORT_DAYS = env_int("LEADBRIDGE_RETENTION_IMPORT_DAYS", 90)
LEADBRIDGE_RETENTION_WEBHOOK_DAYS = env_int("LEADBRIDGE_RETENTION_WEBHOOK_DAYS", 30)
LEADBRIDGE_RETENTION_BATCH_SIZE = env_int("LEADBRIDGE_RETENTION_BATCH_SIZE", 500)

# --- REST framework (the API for integrations, /api/v1/) -------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "integrations.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        "integrations.permissions.TokenScopes",
    ],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["leadbridge.api.parsers.BoundedJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_FILTER_BACKENDS": [
        "leadbridge.api.filters.SingleValuedParams",
        "django_filters.rest_framework.DjangoFilterBackend",
        "leadbridge.api.filters.StrictOrdering",
    ],
    "DEFAULT_PAGINATION_CLASS": "leadbridge.api.pagination.Cursor",
    "EXCEPTION_HANDLER": "leadbridge.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": ["leadbridge.api.throttling.TokenRateThrottle"],
    "DEFAULT_THROTTLE_RATES": {
        # Per token (or signed-in user, or address): single requests, bulk requests,
        # and password logins at POST /api/v1/auth/token/.
        "token": env_str("LEADBRIDGE_API_RATE", "6000/min"),
        "bulk": env_str("LEADBRIDGE_API_BULK_RATE", "60/min"),
        "auth": env_str("LEADBRIDGE_API_AUTH_RATE", "20/min"),
    },
    "DATETIME_FORMAT": "iso-8601",
    # OPTIONS answers 200 with the Allow header; the schema describes the methods.
    "DEFAULT_METADATA_CLASS": "leadbridge.api.metadata.AllowedMethods",
    "COERCE_DECIMAL_TO_STRING": True,
    # Read by CreateModelMixin for Location: "url" would send an info material's own URL
    # (its download link) as the new resource's address. No serializer here has a
    # self link, so nothing has this name; leadbridge.api.schema.CreatedLocationMiddleware
    # sets Location on a 201.
    "URL_FIELD_NAME": "self_url",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
# Throttle counters: in Redis when there is one, so the limit holds across
# gunicorn workers; in process memory otherwise (the embedded default).
LEADBRIDGE_THROTTLE_CACHE = "throttle"
# A Redis that does not answer costs a request at most a second per cache call:
# its callers then carry on without it (leadbridge.outages).
_REDIS_CACHE_OPTIONS = {"socket_connect_timeout": 1, "socket_timeout": 1}
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
    "throttle": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "leadbridge-throttle",
            "OPTIONS": _REDIS_CACHE_OPTIONS,
        }
        if REDIS_URL
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "throttle"}
    ),
}
if REDIS_URL:
    CACHES["lookups"] = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": "leadbridge-lookups",
        "OPTIONS": _REDIS_CACHE_OPTIONS,
    }
# Where the versions of leadbridge.lookups live (SLA policies, webhook subscriptions
# kept in process memory): a cache every process shares; without one, on PostgreSQL
# the processes tell each other with LISTEN/NOTIFY, and on SQLite keep no copies.
LEADBRIDGE_LOOKUP_CACHE = "lookups" if REDIS_URL else None
LEADBRIDGE_WEBHOOK_TIMEOUT = env_int("LEADBRIDGE_WEBHOOK_TIMEOUT", 5)
# Webhooks to private, loopback and link-local addresses (intranet receivers); off:
# integrations.netguard refuses them, against requests into the server's own network.
LEADBRIDGE_WEBHOOK_PRIVATE_TARGETS = env_bool("LEADBRIDGE_WEBHOOK_PRIVATE_TARGETS", False)
# Largest JSON body the API reads (bytes); 10,000 typical leads are about 3 MB.
LEADBRIDGE_API_MAX_BODY = env_int("LEADBRIDGE_API_MAX_BODY", 32 * 1024 * 1024)
# DRF reads request.body, so Django's limit (2.5 MB by default) is the API's too:
# raised to fit a full bulk request; beyond it the API answers 413 as JSON.
DATA_UPLOAD_MAX_MEMORY_SIZE = LEADBRIDGE_API_MAX_BODY
SPECTACULAR_SETTINGS = {
    "TITLE": "LeadBridge API",
    "VERSION": "1",
    "DESCRIPTION": (BASE_DIR / "integrations" / "API.md").read_text(encoding="utf-8"),
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"persistAuthorization": True, "displayOperationId": False},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "leadbridge.api.schema.document_errors",
    ],
    "ENUM_NAME_OVERRIDES": {
        "ChannelEnum": "campaigns.models.Channel",
        "StageEnum": "leads.models.Stage",
        "RejectReasonEnum": "leads.models.RejectReason",
        "WebhookEventEnum": "integrations.models.Event",
        "LeadSourceEnum": "leads.models.Source",
        "LawfulBasisEnum": "leads.models.LawfulBasis",
    },
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}
