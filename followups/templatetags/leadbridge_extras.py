from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if hasattr(mapping, "get") else None


@register.filter
def split(text: str):
    return text.split()


@register.filter
def hours(minutes):
    """Business minutes as hours with one decimal, or a dash."""
    return "—" if minutes is None else f"{minutes / 60:.1f}"


@register.filter
def business_late(followup, now) -> str:
    """How late an open follow-up is, in its team's business time ("2 business days 3 h")."""
    from django.utils.translation import gettext, ngettext

    from followups.deadlines import calendar_for

    calendar = calendar_for(team=followup.lead.team)
    minutes = max(calendar.business_minutes_between(followup.overdue_at, now), 0)
    day = (calendar.closes_at.hour * 60 + calendar.closes_at.minute) - (
        calendar.opens_at.hour * 60 + calendar.opens_at.minute
    )
    days, rest = divmod(minutes, day)
    hours, minutes = divmod(rest, 60)
    parts = []
    if days:
        parts.append(ngettext("%(n)d business day", "%(n)d business days", days) % {"n": days})
    if hours:
        parts.append(gettext("%(n)d h") % {"n": hours})
    if not days and not hours:
        parts.append(gettext("%(n)d min") % {"n": minutes})
    return gettext("%(late)s late") % {"late": " ".join(parts)}
