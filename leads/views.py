from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from followups.forms import IdField, QueryFilterForm
from followups.models import Escalation, FollowUp
from followups.services import CallOutcome
from followups.views import ROW_CONTEXT, LeadRow, lead_tasks_response

from .forms import DecideForm, MoveForm, NoteForm, QualifyForm, ReassignForm
from .models import Lead, RejectReason, Stage
from .services import (
    LeadChanged,
    lead_decide,
    lead_move,
    lead_note_add,
    lead_qualify,
    leads_reassign,
)

_DETAIL_LABELS = {
    "outcome": dict(CallOutcome.CHOICES),
    "detail": dict(CallOutcome.DETAILS),
    "reason": dict(RejectReason.choices),
    "next_step": dict(FollowUp.NextStep.choices),
    "kind": dict(FollowUp.Kind.choices),
    "to": dict(Stage.choices),
}


def _detail(data: dict) -> str:
    """A short human line from an event's data: outcome, reason, new owner, note."""
    parts = []
    for key in ("kind", "outcome", "detail", "next_step", "reason"):
        if data.get(key):
            parts.append(str(_DETAIL_LABELS[key].get(data[key], data[key])))
    if data.get("to_name"):
        parts.append("→ " + data["to_name"])
    elif isinstance(data.get("to"), str):
        parts.append("→ " + str(_DETAIL_LABELS["to"].get(data["to"], data["to"])))
    if data.get("note"):
        parts.append(f"“{data['note']}”")
    return " · ".join(parts)


def timeline(lead: Lead) -> list[dict]:
    """The lead's history, newest first: its events plus the sweep's escalation steps."""
    entries = [
        {
            "at": e.at,
            "kind": e.kind,
            "label": e.get_kind_display(),
            "actor": e.actor,
            "detail": _detail(e.data),
        }
        for e in lead.events.select_related("actor")
    ]
    # A successful reassignment is on the timeline as its own event (with names);
    # the escalation row shows only when nobody could take the lead over.
    escalations = Escalation.objects.filter(followup__lead=lead).exclude(
        level=3, data__to__isnull=False
    )
    entries += [
        {
            "at": x.at,
            "kind": "escalation",
            "label": x.get_level_display(),
            "actor": None,
            "detail": x.followup.get_kind_display(),
        }
        for x in escalations.select_related("followup").order_by("at", "id")
    ]
    entries.sort(key=lambda entry: entry["at"])  # stable: same-moment events keep their order
    return entries[::-1]


def _visible_lead(request, pk: int) -> Lead:
    # Another team's lead answers 404, not 403: its existence is not theirs to know.
    return get_object_or_404(
        Lead.objects.visible_to(request.user).select_related(
            "campaign", "owner", "team", "requested_material"
        ),
        pk=pk,
    )


def _sales_lead(request, pk: int) -> Lead:
    if request.user.is_marketing:
        raise PermissionDenied(_("Marketing does not log sales actions."))
    return _visible_lead(request, pk)


@login_required
def lead_detail(request, pk: int):
    lead = _visible_lead(request, pk)
    now = timezone.now()
    followups = list(lead.followups.select_related("assignee").order_by("due_at", "id"))
    return render(
        request,
        "leads/lead_detail.html",
        {
            **ROW_CONTEXT,
            "lead": lead,
            "followups": followups,
            "row": LeadRow(lead=lead, tasks=[f for f in followups if f.completed_at is None]),
            "timeline": timeline(lead),
            "now": now,
            "decide_form": DecideForm(),
            "qualify_form": QualifyForm(now=now),
            "move_form": MoveForm(),
            "note_form": NoteForm(),
            "can_act": not request.user.is_marketing,
        },
    )


def _after_action(
    request,
    lead: Lead,
    *,
    row_pk: str | None,
    message: str = "",
    error: str = "",
    form=None,
    status=200,
):
    """From a queue row or the lead page's follow-ups (htmx): that lead's tasks again,
    errors in place. From the lead page's plain forms: back to it."""
    if request.htmx:
        row = QueryFilterForm.one(IdField("row"), row_pk)
        acted = FollowUp.objects.filter(lead=lead, pk=row).first() if row else None
        return lead_tasks_response(
            request, lead, acted=acted, message=message, error=error, form=form, status=status
        )
    (messages.error if error else messages.success)(request, error or message)
    return redirect("leads:detail", pk=lead.pk)


def _form_errors(form) -> str:
    return " ".join(str(e) for errors in form.errors.values() for e in errors)


@login_required
@require_POST
def decide(request, pk: int):
    lead = _sales_lead(request, pk)
    form = DecideForm(request.POST)
    row = request.POST.get("followup")
    if not form.is_valid():
        return _after_action(
            request, lead, row_pk=row, error=_form_errors(form), form=form, status=422
        )
    try:
        lead_decide(lead=lead, by=request.user, at=timezone.now(), **form.cleaned_data)
    except LeadChanged:
        return _after_action(
            request, lead, row_pk=row, error=_("Someone decided on this lead already."), status=409
        )
    message = (
        _("Lead accepted.")
        if form.cleaned_data["decision"] == "accepted"
        else _("Lead rejected; marketing sees it for nurturing.")
    )
    return _after_action(request, lead, row_pk=row, message=message)


@login_required
@require_POST
def qualify(request, pk: int):
    lead = _sales_lead(request, pk)
    now = timezone.now()
    form = QualifyForm(request.POST, now=now)
    row = request.POST.get("followup")
    if not form.is_valid():
        return _after_action(
            request, lead, row_pk=row, error=_form_errors(form), form=form, status=422
        )
    try:
        lead_qualify(lead=lead, by=request.user, at=now, **form.cleaned_data)
    except LeadChanged:
        return _after_action(
            request, lead, row_pk=row, error=_("This lead was qualified already."), status=409
        )
    return _after_action(
        request, lead, row_pk=row, message=_("Qualified: the next step is booked.")
    )


@login_required
@require_POST
def move(request, pk: int):
    lead = _sales_lead(request, pk)
    form = MoveForm(request.POST)
    if not form.is_valid():
        return _after_action(request, lead, row_pk=None, error=_form_errors(form), status=422)
    try:
        lead_move(lead=lead, by=request.user, at=timezone.now(), **form.cleaned_data)
    except LeadChanged as exc:
        return _after_action(request, lead, row_pk=None, error=str(exc), status=409)
    return _after_action(request, lead, row_pk=None, message=_("Stage changed."))


@login_required
@require_POST
def note(request, pk: int):
    lead = _visible_lead(request, pk)
    form = NoteForm(request.POST)
    if not form.is_valid():
        return _after_action(request, lead, row_pk=None, error=_form_errors(form), status=422)
    lead_note_add(lead=lead, by=request.user, at=timezone.now(), text=form.cleaned_data["text"])
    return _after_action(request, lead, row_pk=None, message=_("Note added."))


@login_required
@require_POST
def reassign(request):
    """Team leads move one or many leads of their team to another rep."""
    user = request.user
    if not (user.is_manager or user.is_admin_role) or user.team_id is None:
        raise PermissionDenied
    team_leads = Lead.objects.filter(team_id=user.team_id)
    form = ReassignForm(request.POST, team=user.team, leads=team_leads)
    if not form.is_valid():
        messages.error(request, _form_errors(form))
    else:
        moved = leads_reassign(
            leads=list(form.cleaned_data["leads"]),
            to=form.cleaned_data["to"],
            by=user,
            at=timezone.now(),
        )
        messages.success(
            request,
            _("%(n)d lead(s) reassigned to %(rep)s.")
            % {"n": moved, "rep": form.cleaned_data["to"]},
        )
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = "followups:queue"
    return redirect(target)
