import os
import sys

from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "leadbridge.settings")
try:
    application = get_wsgi_application()
except ImproperlyConfigured as exc:  # gunicorn prints this line instead of a traceback
    sys.exit(f"LeadBridge configuration error: {exc}")
