"""Marketing's workspace: campaigns, their handoff agreement, intake and results.

Plain views: check access, call a service, render. The public enquiry form
(webform*) is the only part without a login.
"""

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core import signing
from django.core.cache import caches
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, Exists, OuterRef, Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.formats import date_format
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.clickjacking import xframe_options_exempt
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from followups.exports import csv_response
from followups.forms import IdField, QueryFilterForm
from followups.models import FollowUp
from leadbridge import outages
from leadbridge.client import client_ip
from leadbridge.outages import CACHE_ERRORS
from leads.import_files import MAX_BYTES, ImportFileError
from leads.imports import (
    AlreadyImported,
    import_configure,
    import_preview,
    import_start,
    issue_report_rows,
    issue_text,
)
from leads.intake import PersonErased, lead_receive
from leads.models import ImportJob, Lead, RejectReason, Source

from . import services
from .forms import (
    ActivateForm,
    CampaignFilterForm,
    CampaignForm,
    ImportMappingForm,
    ImportUploadForm,
    ManualLeadForm,
    NurtureFilterForm,
    PublicLeadForm,
    SignOffForm,
    SignOffReturnForm,
)
from .models import Campaign

log = logging.getLogger(__name__)
LEADS_PER_PAGE = 50


def _can_plan(user) -> bool:
    return user.is_marketing or user.is_admin_role


def _planner(request) -> None:
    if not _can_plan(request.user):
        raise PermissionDenied(_("Only marketing plans campaigns."))


# --- campaigns ------------------------------------------------------------------------


@login_required
def campaign_list(request):
    filters = CampaignFilterForm(request.GET or None)
    campaigns = (
        Campaign.objects.select_related("owner", "team")
        .annotate(
            lead_count=Count("leads", distinct=True),
            accepted=Count("leads", filter=Q(leads__decision="accepted"), distinct=True),
            rejected=Count("leads", filter=Q(leads__decision="rejected"), distinct=True),
            material_on_time=Count("leads", filter=Q(leads__material_on_time=True), distinct=True),
            material_sent=Count(
                "leads", filter=Q(leads__material_sent_at__isnull=False), distinct=True
            ),
        )
        .order_by("-starts_on", "name")
    )
    campaigns = filters.filter(campaigns)
    return render(
        request,
        "campaigns/campaign_list.html",
        {"campaigns": campaigns, "filters": filters, "can_plan": _can_plan(request.user)},
    )


@login_required
def campaign_create(request):
    _planner(request)
    form = CampaignForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        campaign = services.campaign_create(
            by=request.user,
            fields=form.service_fields(request.user),
            materials=list(form.cleaned_data["materials"]),
        )
        messages.success(
            request, _("Campaign created. Next: a sales team lead signs off its follow-up plan.")
        )
        return redirect("campaigns:detail", pk=campaign.pk)
    return render(request, "campaigns/campaign_form.html", {"form": form})


@login_required
def campaign_edit(request, pk: int):
    _planner(request)
    campaign = get_object_or_404(Campaign, pk=pk)
    form = CampaignForm(request.POST or None, instance=campaign, user=request.user)
    if request.method == "POST" and form.is_valid():
        # The ModelForm wrote its values onto the instance while validating; the service
        # compares with the stored row, so it reads that afresh.
        campaign, withdrawn = services.campaign_update(
            campaign=Campaign.objects.get(pk=pk),
            by=request.user,
            fields=form.service_fields(request.user),
            materials=list(form.cleaned_data["materials"]),
        )
        messages.success(request, _("Campaign saved."))
        if withdrawn:
            messages.warning(
                request,
                _(
                    "The follow-up plan changed: the sign-off was withdrawn; "
                    "the team lead signs again."
                ),
            )
        return redirect("campaigns:detail", pk=campaign.pk)
    return render(request, "campaigns/campaign_form.html", {"form": form, "campaign": campaign})


def _material_overdue(now):
    return Exists(
        FollowUp.objects.filter(
            lead=OuterRef("pk"),
            kind=FollowUp.Kind.MATERIAL,
            completed_at__isnull=True,
            overdue_at__lte=now,
        )
    )


@login_required
def campaign_detail(request, pk: int):
    campaign = get_object_or_404(
        Campaign.objects.select_related(
            "owner",
            "team",
            "sla_policy",
            "signed_off_by",
            "activated_by",
            "signoff_requested_by",
            "signoff_returned_by",
        ),
        pk=pk,
    )
    now = timezone.now()
    figures = services.campaign_figures(campaign=campaign, now=now)
    leads = (
        Lead.objects.visible_to(request.user)
        .filter(campaign=campaign)
        .select_related("owner")
        .annotate(material_overdue=_material_overdue(now))
        .order_by("-received_at", "-pk")
    )
    page = Paginator(leads, LEADS_PER_PAGE).get_page(request.GET.get("page"))
    for lead in page.object_list:
        lead.material_state = services.material_state(lead, now)
    check = None
    if campaign.team and campaign.status == Campaign.Status.PLANNED:
        check = services.capacity_check(
            campaign=campaign, team=campaign.team, today=timezone.localdate(now)
        )
    form_url = request.build_absolute_uri(reverse("webform:form", args=[campaign.form_key]))
    embed_url = request.build_absolute_uri(reverse("webform:embed", args=[campaign.form_key]))
    # The snippet is HTML the customer pastes into their page: its attribute values are
    # escaped in it (format_html), and the whole text once more for the textarea
    # (force_escape in the template), so a name with " or < stays a title.
    embed_snippet = format_html(
        '<iframe src="{}?lang=de" title="{}" width="100%" height="960" '
        'style="border:0" loading="lazy"></iframe>',
        embed_url,
        campaign.name,
    )
    chart = {
        "labels": [date_format(day, "MONTH_DAY_FORMAT") for day, _n in figures.per_day],
        "counts": [n for _day, n in figures.per_day],
        "label": _("Leads received"),
    }
    return render(
        request,
        "campaigns/campaign_detail.html",
        {
            "campaign": campaign,
            "figures": figures,
            "counts": figures.counts,
            "chart": chart,
            "page": page,
            "check": check,
            # The capacity warning the team lead signed despite, in the reader's language.
            "signoff_warning": (
                services.CapacityCheck.from_dict(campaign.signoff_check).warning()
                if campaign.signoff_check.get("overloaded")
                else ""
            ),
            "now": now,
            "imports": campaign.imports.select_related("created_by")[:10],
            "form_url": form_url,
            "embed_url": embed_url,
            "embed_snippet": embed_snippet,
            "can_plan": _can_plan(request.user),
            "can_sign": services.can_sign_off(request.user, campaign),
            "can_request": services.can_request_sign_off(request.user, campaign),
            "can_activate": services.can_activate(request.user, campaign),
            "can_override": services.can_override(request.user, campaign),
            "activate_form": ActivateForm(),
        },
    )


@login_required
def campaign_signoff(request, pk: int):
    """The team lead's page: the plan, the capacity check, and the signature."""
    campaign = get_object_or_404(Campaign.objects.select_related("team", "sla_policy"), pk=pk)
    user = request.user
    if not services.can_sign_off(user, campaign):
        raise PermissionDenied(
            _("The team lead of the team that follows up signs off the follow-up plan.")
        )
    initial = {"team": campaign.team or user.team, "sla_policy": campaign.sla_policy}
    form = SignOffForm(request.POST or None, user=user, initial=initial)
    now = timezone.now()
    if request.method == "POST" and form.is_valid():
        try:
            services.campaign_sign_off(
                campaign=campaign,
                by=user,
                now=now,
                team=form.cleaned_data["team"],
                sla_policy=form.cleaned_data["sla_policy"],
                warning_seen=form.cleaned_data["warning_seen"],
            )
        except services.CampaignError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, _("Follow-up plan signed off."))
            return redirect("campaigns:detail", pk=campaign.pk)
    team = (
        form.cleaned_data.get("team")
        if form.is_bound and form.is_valid()
        else (campaign.team or user.team)
    )
    preview = QueryFilterForm.one(IdField(_("Team")), request.GET.get("team"))
    if preview and user.is_admin_role:
        from accounts.models import Team

        team = Team.objects.filter(pk=preview).first() or team
    check = (
        services.capacity_check(campaign=campaign, team=team, today=timezone.localdate(now))
        if team
        else None
    )
    sla_policy = (
        form.cleaned_data.get("sla_policy")
        if form.is_bound and form.is_valid()
        else campaign.sla_policy
    )
    return render(
        request,
        "campaigns/campaign_signoff.html",
        {
            "campaign": campaign,
            "form": form,
            "return_form": SignOffReturnForm(),
            "check": check,
            "team": team,
            "deadlines": services.plan_deadlines(
                campaign=campaign, team=team, sla_policy=sla_policy, now=now
            ),
            "now": now,
        },
    )


@login_required
@require_POST
def campaign_signoff_request(request, pk: int):
    """Marketing asks the team lead to sign off (the team lead is notified)."""
    _planner(request)
    campaign = get_object_or_404(Campaign, pk=pk)
    try:
        services.campaign_sign_off_request(campaign=campaign, by=request.user, now=timezone.now())
    except services.CampaignError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(
            request,
            _("Sign-off requested: the team lead of %(team)s was notified.")
            % {"team": campaign.team},
        )
    return redirect("campaigns:detail", pk=campaign.pk)


@login_required
@require_POST
def campaign_signoff_return(request, pk: int):
    """The team lead sends the plan back with a comment (marketing is notified)."""
    campaign = get_object_or_404(Campaign, pk=pk)
    if not services.can_sign_off(request.user, campaign):
        raise PermissionDenied(
            _("The team lead of the team that follows up signs off the follow-up plan.")
        )
    form = SignOffReturnForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(form.errors.get("comment", [])))
        return redirect("campaigns:signoff", pk=campaign.pk)
    try:
        services.campaign_sign_off_return(
            campaign=campaign,
            by=request.user,
            comment=form.cleaned_data["comment"],
            now=timezone.now(),
        )
    except services.CampaignError as exc:
        messages.error(request, str(exc))
        return redirect("campaigns:signoff", pk=campaign.pk)
    messages.success(request, _("Plan sent back to marketing with your comment."))
    return redirect("campaigns:detail", pk=campaign.pk)


@login_required
@require_POST
def campaign_activate(request, pk: int):
    campaign = get_object_or_404(Campaign, pk=pk)
    if not services.can_activate(request.user, campaign):
        raise PermissionDenied
    form = ActivateForm(request.POST)
    form.is_valid()
    try:
        services.campaign_activate(
            campaign=campaign,
            by=request.user,
            now=timezone.now(),
            override_reason=form.cleaned_data.get("override_reason", ""),
        )
    except services.CampaignError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Campaign activated: its form and import are open."))
    return redirect("campaigns:detail", pk=campaign.pk)


@login_required
@require_POST
def campaign_end(request, pk: int):
    _planner(request)
    campaign = get_object_or_404(Campaign, pk=pk)
    try:
        services.campaign_end(campaign=campaign, by=request.user, now=timezone.now())
    except services.CampaignError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Campaign ended. Late fair scans can still be imported."))
    return redirect("campaigns:detail", pk=campaign.pk)


def _lead_rows(leads):
    for lead in leads.iterator(chunk_size=2000):
        yield [
            lead.pk,
            lead.received_at,
            lead.company,
            lead.contact_name,
            lead.email,
            lead.phone,
            lead.street,
            lead.postcode,
            lead.city,
            lead.country,
            lead.get_source_display(),
            lead.get_stage_display(),
            str(lead.owner or ""),
            lead.material_sent_at,
            lead.first_contact_at,
            lead.get_decision_display(),
            lead.get_decision_reason_display(),
            lead.decision_note,
            lead.consent_at is not None,
            lead.message,
        ]


def lead_csv_header() -> list[str]:
    """Readable column names in the reader's language (the CSV dialect follows it too)."""
    return [
        _("ID"),
        _("Received"),
        _("Company"),
        _("Contact person"),
        _("Email"),
        _("Phone"),
        _("Street"),
        _("Postcode"),
        _("City"),
        _("Country"),
        _("Source"),
        _("Stage"),
        _("Owner"),
        _("Material sent"),
        _("First call"),
        _("Decision"),
        _("Reason"),
        _("Decision note"),
        _("Consent"),
        _("Message"),
    ]


@login_required
def campaign_leads_csv(request, pk: int):
    """The campaign's leads for a spreadsheet; cells that would run as formulas are defused."""
    _planner(request)
    campaign = get_object_or_404(Campaign, pk=pk)
    leads = (
        Lead.objects.filter(campaign=campaign).select_related("owner").order_by("received_at", "pk")
    )
    return csv_response(f"leads-campaign-{campaign.pk}.csv", lead_csv_header(), _lead_rows(leads))


# --- import ---------------------------------------------------------------------------------


@login_required
def import_upload(request, pk: int):
    _planner(request)
    campaign = get_object_or_404(Campaign, pk=pk)
    if not campaign.accepts_leads:
        messages.error(
            request,
            _(
                "Activate the campaign first: "
                "sales signs off its follow-up plan before leads come in."
            ),
        )
        return redirect("campaigns:detail", pk=campaign.pk)
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    earlier = None
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        try:
            if upload.size > MAX_BYTES:  # refuse before reading it into memory
                raise ImportFileError(
                    _(
                        "The file has %(size).1f MB; the limit is %(limit)d MB. "
                        "Split it into smaller files."
                    )
                    % {"size": upload.size / 1024 / 1024, "limit": MAX_BYTES // 1024 // 1024}
                )
            job = import_start(
                campaign=campaign,
                name=upload.name,
                data=upload.read(),
                by=request.user,
                now=timezone.now(),
            )
        except AlreadyImported as exc:
            form.add_error("file", str(exc))
            earlier = exc.job
        except ImportFileError as exc:
            form.add_error("file", str(exc))
        else:
            return redirect("campaigns:import_detail", pk=job.pk)
    return render(
        request,
        "leads/import_upload.html",
        {"campaign": campaign, "form": form, "earlier": earlier},
    )


def _import_job(request, pk: int) -> ImportJob:
    _planner(request)
    return get_object_or_404(ImportJob.objects.select_related("campaign", "created_by"), pk=pk)


ISSUES_PER_PAGE = 50


def _import_result(request, job: ImportJob) -> dict:
    """The progress and, once finished, one page of the rows that did not become new
    leads, with line number and reason (the CSV report has them all)."""
    context = {"job": job, "campaign": job.campaign}
    if job.is_finished:
        page = Paginator(job.issues.order_by("line", "pk"), ISSUES_PER_PAGE).get_page(
            request.GET.get("page")
        )
        for issue in page.object_list:
            issue.text = issue_text(issue)
        context["issues"] = page
    return context


@login_required
def import_detail(request, pk: int):
    """The mapping preview while the job waits for it, then the progress and the result."""
    job = _import_job(request, pk)
    if job.status != ImportJob.Status.MAPPING:
        return render(request, "leads/import_detail.html", _import_result(request, job))
    form = ImportMappingForm(request.POST or None, job=job)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            import_configure(
                job=job,
                mapping=data["mapping"],
                received_on=data["received_on"],
                on_duplicate=data["on_duplicate"],
                consent_all=data["consent_all"],
                material_all=data["material_all"],
                lawful_basis=data["lawful_basis"],
            )
        except ValueError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect("campaigns:import_detail", pk=job.pk)
    try:
        preview = import_preview(job=job)
    except ImportFileError as exc:
        raise Http404(str(exc)) from None
    width = len(job.header)
    columns = [
        {"field": form[name], "name": job.header[i]} for i, name in enumerate(form.column_fields)
    ]
    sample_rows = [[row[i] if i < len(row) else "" for i in range(width)] for row in preview.rows]
    return render(
        request,
        "leads/import_mapping.html",
        {
            "job": job,
            "campaign": job.campaign,
            "form": form,
            "columns": columns,
            "sample_rows": sample_rows,
        },
    )


@login_required
def import_progress(request, pk: int):
    """Polled by htmx every second until the job is finished."""
    job = _import_job(request, pk)
    return render(request, "leads/_import_progress.html", _import_result(request, job))


@login_required
def import_report(request, pk: int):
    job = _import_job(request, pk)
    header = [_("Row"), _("Result"), _("Reason"), *job.header]
    return csv_response(f"import-{job.pk}-report.csv", header, issue_report_rows(job=job))


# --- manual entry --------------------------------------------------------------------------


@login_required
def lead_manual(request):
    """One lead typed in by hand (a phone enquiry): any signed-in user may."""
    now = timezone.now()
    initial = {}
    if request.GET.get("campaign", "").isdigit():
        initial["campaign"] = request.GET["campaign"]
    form = ManualLeadForm(request.POST or None, now=now, initial=initial)
    if request.method == "POST" and form.is_valid():
        campaign = form.cleaned_data["campaign"]
        data = form.lead_data(language=_form_language(request))
        known = services.duplicate_hint(data=data, user=request.user)
        try:
            intake = lead_receive(
                campaign=campaign, data=data, source=Source.MANUAL, now=now, actor=request.user
            )
        except PersonErased as exc:
            form.add_error("email", str(exc))
            return render(request, "leads/lead_manual_form.html", {"form": form})
        lead = intake.lead
        deadlines = "; ".join(
            f"{f.get_kind_display()}: {date_format(timezone.localtime(f.due_at), 'SHORT_DATETIME_FORMAT')}"
            for f in services.lead_deadlines(lead=lead)
        )
        messages.success(
            request, _("Lead saved. Deadlines: %(deadlines)s") % {"deadlines": deadlines or "—"}
        )
        if known is not None:
            messages.info(
                request, _("This person is known already: see lead %(pk)d.") % {"pk": known.pk}
            )
        if Lead.objects.visible_to(request.user).filter(pk=lead.pk).exists():
            return redirect("leads:detail", pk=lead.pk)
        return redirect("campaigns:lead_new")
    return render(request, "leads/lead_manual_form.html", {"form": form})


# --- nurturing ------------------------------------------------------------------------------


@login_required
def nurture_list(request):
    """Leads sales rejected, with the reason: marketing nurtures them."""
    _planner(request)
    leads = services.nurture_leads(user=request.user)
    filters = NurtureFilterForm(request.GET)
    valid = filters.valid()
    if "campaign" in valid:
        leads = leads.filter(campaign_id=valid["campaign"])
    if "reason" in valid:
        leads = leads.filter(decision_reason=valid["reason"])
    if request.GET.get("format") == "csv":
        rows = (
            [
                lead.decided_at,
                lead.company,
                lead.contact_name,
                lead.email,
                lead.phone,
                str(lead.campaign or ""),
                lead.get_decision_reason_display(),
                lead.decision_note,
                str(lead.decided_by or ""),
            ]
            for lead in leads.iterator(chunk_size=2000)
        )
        header = [
            _("Rejected"),
            _("Company"),
            _("Contact person"),
            _("Email"),
            _("Phone"),
            _("Campaign"),
            _("Reason"),
            _("Note"),
            _("Rejected by"),
        ]
        return csv_response("nurturing.csv", header, rows)
    page = Paginator(leads, LEADS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "leads/nurture_list.html",
        {
            "page": page,
            "reasons": RejectReason.choices,
            "campaigns": Campaign.objects.filter(leads__decision="rejected")
            .distinct()
            .order_by("-starts_on"),
            "filters": {name: str(value) for name, value in valid.items()},
            "filter_problems": filters.problems(),
            "query": urlencode(valid),
        },
    )


# --- the public form (no login) ----------------------------------------------------------------

THANKS_MAX_AGE = 24 * 3600


def _form_language(request) -> str:
    requested = (request.GET.get("lang") or request.POST.get("lang") or "").lower()
    codes = [code for code, _name in settings.LANGUAGES]
    if requested in codes:
        return requested
    current = (translation.get_language() or settings.LANGUAGE_CODE).split("-")[0]
    return current if current in codes else settings.LANGUAGE_CODE


def _rate_limited(request) -> int:
    """Seconds to wait when this address sent too many forms lately, else 0.

    A fixed window per IP (LEADBRIDGE_WEBFORM_RATE = (forms, seconds)) in the API's
    throttle cache: Redis when there is one, so the limit holds across gunicorn workers.
    Every POST counts, valid or not: a bot trying variations is still one bot.
    """
    limit, window = getattr(settings, "LEADBRIDGE_WEBFORM_RATE", (10, 600))
    alias = getattr(settings, "LEADBRIDGE_WEBFORM_CACHE", None) or getattr(
        settings, "LEADBRIDGE_THROTTLE_CACHE", "default"
    )
    cache = caches[alias]
    key = f"webform-rate:{client_ip(request)}"
    try:
        if cache.add(key, 1, timeout=window):
            return 0
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=window)
            return 0
    except CACHE_ERRORS as exc:
        # Open, not shut: a lead is worth more than the spam guard (the honeypot stays).
        outages.warn("webform-rate", "Web-form rate limit off: cache unreachable (%s)", exc)
        return 0
    return window if count > limit else 0


def _webform(request, key: str, *, embed: bool):
    campaign = get_object_or_404(Campaign, form_key=key)
    language = _form_language(request)
    with translation.override(language):
        consent_text = campaign.consent_text_for(language)
        context = {
            "campaign": campaign,
            "embed": embed,
            "language": language,
            "form_key": key,
            "privacy_url": settings.LEADBRIDGE_PRIVACY_URL,
        }
        if campaign.status != Campaign.Status.ACTIVE:
            return render(
                request,
                "campaigns/webform_closed.html",
                context,
                status=410 if campaign.status == "ended" else 404,
            )
        if request.method == "POST":
            wait = _rate_limited(request)
            if wait:
                response = render(
                    request,
                    "campaigns/webform_limited.html",
                    {**context, "minutes": max(1, wait // 60)},
                    status=429,
                )
                response["Retry-After"] = str(wait)
                return response
            if request.POST.get("website", "").strip():
                # The honeypot was filled in: a bot. It gets a thank-you and we keep nothing.
                log.info(
                    "web form %s: honeypot filled from %s, dropped",
                    campaign.pk,
                    client_ip(request),
                )
                return render(
                    request, "campaigns/webform_thanks.html", {**context, "promise": None}
                )
            form = PublicLeadForm(request.POST, campaign=campaign, consent_text=consent_text)
            if form.is_valid():
                now = timezone.now()
                # The person's own consent, given just now, is a new lawful basis even
                # if they once asked to be erased (and a visitor must not learn that).
                intake = lead_receive(
                    campaign=campaign,
                    data=form.lead_data(consent_text=consent_text, language=language, now=now),
                    source=Source.WEB_FORM,
                    now=now,
                    allow_suppressed=True,
                )
                token = signing.dumps({"lead": intake.lead.pk}, salt=f"webform-thanks:{key}")
                target = reverse("webform:embed_thanks" if embed else "webform:thanks", args=[key])
                return redirect(f"{target}?t={token}&lang={language}")
        else:
            form = PublicLeadForm(campaign=campaign, consent_text=consent_text)
        return render(request, "campaigns/webform.html", {**context, "form": form})


def _webform_thanks(request, key: str, *, embed: bool):
    campaign = get_object_or_404(Campaign, form_key=key)
    language = _form_language(request)
    try:
        data = signing.loads(
            request.GET.get("t", ""), salt=f"webform-thanks:{key}", max_age=THANKS_MAX_AGE
        )
        lead = Lead.objects.select_related("requested_material", "team", "campaign").get(
            pk=data["lead"], campaign=campaign
        )
    except (signing.BadSignature, KeyError, TypeError, Lead.DoesNotExist):
        lead = None
    with translation.override(language):
        promise = services.intake_promise(lead=lead) if lead else None
        return render(
            request,
            "campaigns/webform_thanks.html",
            {
                "campaign": campaign,
                "embed": embed,
                "language": language,
                "promise": promise,
                "lead": lead,
                "form_key": key,
            },
        )


def opt_in(request, token: str):
    """The link of the double opt-in email: GET shows a button (mail scanners open
    links; only a person's click confirms), POST records the confirmation once."""
    language = _form_language(request)
    if request.method == "POST":
        state, lead = services.marketing_consent_confirm(token=token, now=timezone.now())
    else:
        state, lead = services.opt_in_lookup(token=token)
    status = {
        services.OptInState.EXPIRED: 410,
        services.OptInState.INVALID: 404,
    }.get(state, 200)
    with translation.override(language):
        return render(
            request,
            "campaigns/opt_in.html",
            {"state": state, "lead": lead, "language": language, "token": token},
            status=status,
        )


# The form is public and login-free, so CSRF protection guards nothing here, and inside
# a customer's iframe the CSRF cookie would not even be sent (third-party cookie). The
# honeypot and the rate limit keep bots out instead.
@csrf_exempt
def webform(request, key: str):
    return _webform(request, key, embed=False)


@csrf_exempt
@xframe_options_exempt  # the only framable views: the snippet on the customer's website
def webform_embed(request, key: str):
    return _webform(request, key, embed=True)


def webform_thanks(request, key: str):
    return _webform_thanks(request, key, embed=False)


@xframe_options_exempt
def webform_embed_thanks(request, key: str):
    return _webform_thanks(request, key, embed=True)
