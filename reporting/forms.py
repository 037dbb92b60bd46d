from datetime import date

from django import forms
from django.utils.translation import gettext_lazy as _

from campaigns.models import Channel
from followups.forms import IdField, QueryFilterForm
from leads.models import Stage

from . import metrics


class DashboardFilterForm(QueryFilterForm):
    start = forms.DateField(label=_("From"), required=False)
    end = forms.DateField(label=_("To"), required=False)
    team = IdField(_("Team"))
    campaign = IdField(_("Campaign"))
    channel = forms.ChoiceField(label=_("Channel"), choices=Channel.choices, required=False)

    def __init__(self, data, *, today: date, **kwargs):
        super().__init__(data, **kwargs)
        self.today = today

    def _day(self, name: str) -> date | None:
        day = self.cleaned_data.get(name)
        problem = day and metrics.period_day_problem(day, today=self.today)
        if problem:
            raise forms.ValidationError(problem)
        return day

    def clean_start(self):
        return self._day("start")

    def clean_end(self):
        return self._day("end")


class DrillDownForm(QueryFilterForm):
    """What a chart's bar adds to a drill-down list: an ageing bucket or a funnel stage."""

    ageing = forms.TypedChoiceField(
        label=_("Time past the deadline"),
        choices=[(str(i), label) for i, (label, _l, _h) in enumerate(metrics.AGEING_BUCKETS)],
        coerce=int,
        required=False,
        empty_value=None,
    )
    stage = forms.ChoiceField(label=_("Stage"), choices=Stage.choices, required=False)
