import os
import sys

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadbridge.settings")

app = Celery("leadbridge")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_configure.connect
def _settings_or_one_line(sender, **kwargs):
    """A bad DATABASE_URL/REDIS_URL stops `celery worker` with one line, not a traceback."""
    from django.core.exceptions import ImproperlyConfigured

    try:
        from django.conf import settings

        settings.INSTALLED_APPS  # noqa: B018 - loads the settings module now
    except ImproperlyConfigured as exc:
        sys.exit(f"LeadBridge configuration error: {exc}")
