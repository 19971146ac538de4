"""Data quality on pages: ``{% quality_badge object.quality %}`` (a coloured 0–100 badge) and
``{% quality_card object edit_url %}`` (the score with its parts and reasons, for detail pages)."""

from django import template
from django.utils.html import format_html

from crm.quality import band_of, quality_of

register = template.Library()

COLOURS = {"poor": "danger", "fair": "warning", "good": "success"}


@register.simple_tag
def quality_badge(score):
    """Built in Python, not from a template: a list shows one on each of its 50 rows."""
    if score is None:
        return format_html('<span class="badge text-bg-light" title="Not scored yet">—</span>')
    band = band_of(score)
    return format_html(
        '<span class="badge text-bg-{}" title="Data quality: {}">{}</span>',
        COLOURS.get(band, "light"),
        band,
        score,
    )


@register.inclusion_tag("crm/quality/card.html")
def quality_card(record, edit_url="", can_change=False):
    """The live score (freshness counted to now), with links to edit when the user may."""
    quality = quality_of(record)
    return {
        "quality": quality,
        "colour": COLOURS[quality.band],
        "edit_url": edit_url if can_change else "",
    }
