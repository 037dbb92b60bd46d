"""The "Data privacy" page: find a person, export what is held about them, erase them."""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from leads.models import Lead

from . import services
from .forms import EraseForm, ExportForm, SubjectForm
from .models import ErasureLog


def _allowed(request) -> None:
    if not services.may_manage_privacy(request.user):
        raise PermissionDenied(_("Only team leads and administrators handle data requests."))


def _subject(data: dict) -> dict:
    lead = None
    if data.get("lead"):
        lead = Lead(pk=data["lead"])
    return {"email": data.get("email") or None, "lead": lead}


def _erasures_for(user):
    """The erasure log as this user may read it: its reasons name requests of their team."""
    erasures = ErasureLog.objects.select_related("by")
    return erasures if user.is_admin_role else erasures.filter(by__team_id=user.team_id)


@login_required
@require_GET
def privacy_search(request):
    _allowed(request)
    form = SubjectForm(request.GET or None)
    person, status = None, 200
    if request.GET and form.is_valid():
        try:
            person = services.person_find(**_subject(form.cleaned_data), by=request.user)
        except Lead.DoesNotExist:
            form.add_error("lead", _("No lead with this number that you may see."))
    if form.errors:
        status = 400
    erase_form = None
    if person is not None:
        erase_form = EraseForm(initial={"email": person.email, "lead": form.cleaned_data["lead"]})
    context = {
        "form": form,
        "person": person,
        "erase_form": erase_form,
        "query": urlencode({k: v for k, v in request.GET.items() if k in {"email", "lead"}}),
        "erasures": _erasures_for(request.user)[:20],
    }
    return render(request, "privacy/privacy_search.html", context, status=status)


@login_required
@require_GET
def privacy_export(request):
    _allowed(request)
    form = ExportForm(request.GET)
    if not form.is_valid():
        return render(
            request,
            "privacy/privacy_search.html",
            {"form": form, "person": None, "erasures": []},
            status=400,
        )
    fmt = form.cleaned_data.get("format") or "html"
    try:
        export = services.person_export(
            **_subject(form.cleaned_data), by=request.user, now=timezone.now(), format=fmt
        )
    except Lead.DoesNotExist:
        raise Http404 from None
    if fmt == "json":
        response = HttpResponse(
            json.dumps(export, indent=2, ensure_ascii=False, default=str),
            content_type="application/json; charset=utf-8",
        )
        response["Content-Disposition"] = 'attachment; filename="personal-data.json"'
        return response
    return render(request, "privacy/person_export.html", {"export": export})


@login_required
@require_POST
def privacy_erase(request):
    _allowed(request)
    form = EraseForm(request.POST)
    if form.is_valid():
        try:
            log = services.person_erase(
                **_subject(form.cleaned_data),
                by=request.user,
                reason=form.cleaned_data["reason"],
                now=timezone.now(),
            )
        except Lead.DoesNotExist:
            raise Http404 from None
        except services.ErasureRefused:
            form.add_error(None, _("Nothing is held about this person."))
        else:
            messages.success(
                request,
                _("Erased: %(leads)d lead(s) anonymised, %(files)d import file(s) deleted.")
                % {"leads": len(log.lead_ids), "files": log.counts.get("import_files", 0)},
            )
            return redirect(reverse("privacy:search"))
    context = {"form": SubjectForm(), "person": None, "erase_form": form, "erasures": []}
    return render(request, "privacy/privacy_search.html", context, status=400)
