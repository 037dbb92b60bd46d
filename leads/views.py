from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from followups.models import Escalation

from .models import Lead


def timeline(lead: Lead) -> list[dict]:
    """The lead's history, newest first: its events plus the sweep's escalation steps."""
    entries = [
        {"at": e.at, "label": e.get_kind_display(), "actor": e.actor, "data": e.data}
        for e in lead.events.select_related("actor")
    ]
    entries += [
        {"at": x.at, "label": f"{x.get_level_display()} · {x.followup.get_kind_display()}", "actor": None, "data": x.data}
        for x in Escalation.objects.filter(followup__lead=lead).select_related("followup")
    ]
    return sorted(entries, key=lambda entry: entry["at"], reverse=True)


@login_required
def lead_detail(request, pk: int):
    # Another team's lead answers 404, not 403: its existence is not theirs to know.
    lead = get_object_or_404(
        Lead.objects.visible_to(request.user).select_related(
            "campaign", "owner", "team", "requested_material"
        ),
        pk=pk,
    )
    return render(
        request,
        "leads/lead_detail.html",
        {
            "lead": lead,
            "followups": lead.followups.select_related("assignee").order_by("due_at"),
            "timeline": timeline(lead),
            "now": timezone.now(),
        },
    )
