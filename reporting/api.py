"""The dashboard's figures over the API, for the leads the user's dashboard covers."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.views import APIView

from campaigns.models import Channel
from followups.figures import METRICS
from leadbridge.api.fields import ID_MAX, ApiSerializer
from leadbridge.api.filters import single_valued

from . import metrics


class DashboardQuerySerializer(ApiSerializer):
    start = serializers.DateField(
        required=False, help_text=_("First day (default: 29 days before end).")
    )
    end = serializers.DateField(required=False, help_text=_("Last day (default: today)."))
    # Query parameters arrive as text: plain IntegerFields, not the strict JSON ones.
    team = serializers.IntegerField(required=False, min_value=1, max_value=ID_MAX)
    campaign = serializers.IntegerField(required=False, min_value=1, max_value=ID_MAX)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    by = serializers.ChoiceField(
        choices=list(metrics.BREAKDOWNS),
        required=False,
        help_text=_("Also break the figures down by rep, team, campaign or channel."),
    )

    def _day(self, day):
        problem = metrics.period_day_problem(day, today=self.context["today"])
        if problem:
            raise ValidationError(problem)
        return day

    def validate_start(self, day):
        return self._day(day)

    def validate_end(self, day):
        return self._day(day)

    def validate(self, attrs):
        if attrs.get("start") and attrs.get("end") and attrs["start"] > attrs["end"]:
            raise ValidationError({"start": _("The period must start before it ends.")})
        return attrs


class DurationSerializer(serializers.Serializer):
    median = serializers.FloatField(allow_null=True)
    p90 = serializers.FloatField(allow_null=True)


class FiguresSerializer(serializers.Serializer):
    counts = serializers.DictField(child=serializers.IntegerField())
    rates = serializers.DictField(child=serializers.FloatField(allow_null=True))
    durations = serializers.DictField(
        child=DurationSerializer(), help_text=_("Business minutes since receipt.")
    )


class BreakdownRowSerializer(FiguresSerializer):
    key = serializers.CharField(allow_null=True)


class DashboardSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    figures = FiguresSerializer()
    definitions = serializers.DictField(child=serializers.CharField())
    breakdown = BreakdownRowSerializer(many=True, allow_null=True)


def _figures(figures) -> dict:
    return {"counts": figures.counts, "rates": figures.rates, "durations": figures.durations}


class DashboardView(APIView):
    """The handoff figures of the dashboard, for the leads the user's dashboard covers."""

    @extend_schema(
        summary="Handoff SLA figures",
        parameters=[DashboardQuerySerializer],
        responses={200: DashboardSerializer},
    )
    def get(self, request):
        single_valued(request)
        now = timezone.now()
        query = DashboardQuerySerializer(
            data=request.query_params.dict(), context={"today": timezone.localdate(now)}
        )
        query.is_valid(raise_exception=True)
        params = query.validated_data
        end = params.get("end") or timezone.localdate(now)
        start = params.get("start") or end - timedelta(days=29)
        leads = metrics.scope(user=request.user)
        for name, field in (
            ("team", "team_id"),
            ("campaign", "campaign_id"),
            ("channel", "channel"),
        ):
            if params.get(name):
                leads = leads.filter(**{field: params[name]})
        # Overdue now counts the backlog: these leads whatever day they came in.
        backlog = leads
        low, high = metrics.period_bounds(start, end)
        leads = leads.filter(received_at__gte=low, received_at__lt=high)
        breakdown = None
        if params.get("by"):
            breakdown = [
                {"key": None if key is None else str(key), **_figures(figures)}
                for key, figures in metrics.breakdown(
                    leads=leads, now=now, by=params["by"], backlog=backlog
                )
            ]
        definitions = {key: str(m.definition) for key, m in METRICS.items()}
        definitions.update({key: str(d) for key, (_n, _d, d) in metrics.RATES.items()})
        definitions.update({key: str(d) for key, d in metrics.DURATIONS.items()})
        return Response(
            {
                "start": start.isoformat(),
                "end": end.isoformat(),
                "figures": _figures(metrics.handoff_figures(leads=leads, now=now, backlog=backlog)),
                "definitions": definitions,
                "breakdown": breakdown,
            }
        )
