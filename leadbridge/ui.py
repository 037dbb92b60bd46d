"""The design system's template side: `{% load ui %}` (TEMPLATES libraries in settings).

- `{% icon "inbox" %}`: an icon from the vendored Lucide sprite (decorative: the
  text beside it says what it means, so screen readers skip the icon).
- `{{ amount|money }}`: a euro amount in the language's format ("4.500,00 €",
  "€4,500.00").
- `navigation(request)`: the context processor that tells base.html which main
  navigation entry the current page belongs to (aria-current).
"""

from django import template
from django.templatetags.static import static
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.translation import pgettext

register = template.Library()

SPRITE = "vendor/lucide-1.87.0/sprite.svg"


@register.simple_tag
def icon(name: str, css_class: str = "") -> str:
    return format_html(
        '<svg class="icon{}" aria-hidden="true" focusable="false"><use href="{}#{}"></use></svg>',
        f" {css_class}" if css_class else "",
        static(SPRITE),
        name,
    )


@register.filter
def money(amount) -> str:
    """Euros with two decimals and grouping in the active language; a dash for none."""
    if amount is None or amount == "":
        return "—"
    number = number_format(amount, decimal_pos=2, use_l10n=True, force_grouping=True)
    # Translators: a euro amount; German puts the sign after the number.
    return pgettext("money", "€%(amount)s") % {"amount": number}


# The main navigation entry of each page: by view name first, then by namespace.
NAV_SECTIONS = {
    "campaigns:nurture": "nurture",
    "campaigns:lead_new": "lead_new",
    "campaigns": "campaigns",
    "followups:queue": "queue",
    "followups:notifications": "notifications",
    "reporting": "dashboard",
    "integrations": "integrations",
    "privacy": "privacy",
}


def navigation(request) -> dict:
    match = getattr(request, "resolver_match", None)
    if match is None:
        return {}
    section = NAV_SECTIONS.get(match.view_name) or NAV_SECTIONS.get(match.namespace, "")
    return {"nav_current": section}
