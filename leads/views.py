from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from django.utils import timezone

from .models import Lead


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
            "events": lead.events.select_related("actor").order_by("-at", "-id"),
            "now": timezone.now(),
        },
    )
