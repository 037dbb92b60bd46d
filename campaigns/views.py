from django.contrib.auth.decorators import login_required
from django.db.models import Count, F, Q
from django.shortcuts import render

from followups.models import FollowUp

from .models import Campaign


@login_required
def campaign_list(request):
    campaigns = (
        Campaign.objects.select_related("owner", "team")
        .annotate(
            lead_count=Count("leads", distinct=True),
            accepted=Count("leads", filter=Q(leads__decision="accepted"), distinct=True),
            rejected=Count("leads", filter=Q(leads__decision="rejected"), distinct=True),
            material_on_time=Count(
                "leads__followups",
                filter=Q(
                    leads__followups__kind=FollowUp.Kind.MATERIAL,
                    leads__followups__completed_at__lte=F("leads__followups__overdue_at"),
                ),
            ),
            material_total=Count(
                "leads__followups", filter=Q(leads__followups__kind=FollowUp.Kind.MATERIAL)
            ),
        )
        .order_by("-starts_on", "name")
    )
    return render(request, "campaigns/campaign_list.html", {"campaigns": campaigns})
