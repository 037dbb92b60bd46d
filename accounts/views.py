"""The log-in lockout page (django-axes calls login_locked through AXES_LOCKOUT_CALLABLE)."""

import math

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import render


def login_locked(request, original_response=None, credentials=None):
    """The log-in form again, with a 429 and how long this username is locked from
    this address; the form stays usable for another user."""
    minutes = max(1, math.ceil(settings.AXES_COOLOFF_TIME.total_seconds() / 60))
    response = render(
        request,
        "registration/login.html",
        {
            "form": AuthenticationForm(request),
            "locked_minutes": minutes,
            "next": request.POST.get("next", ""),
        },
        status=429,
    )
    response["Retry-After"] = str(minutes * 60)
    return response
