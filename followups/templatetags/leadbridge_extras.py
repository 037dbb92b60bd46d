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
