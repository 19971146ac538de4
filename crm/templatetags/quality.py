"""Data quality on pages: ``{% quality_badge object.quality %}`` (a coloured 0–100 badge) and
``{% quality_card object edit_url %}`` (the score with its parts and reasons, for detail pages)."""

from django import template

from crm.quality import band_of, quality_of

register = template.Library()

COLOURS = {"poor": "danger", "fair": "warning", "good": "success"}


@register.inclusion_tag("crm/quality/badge.html")
def quality_badge(score):
    band = band_of(score)
    return {"score": score, "band": band, "colour": COLOURS.get(band, "light")}


@register.inclusion_tag("crm/quality/card.html")
def quality_card(record, edit_url="", can_change=False):
    """The live score (freshness counted to now), with links to edit when the user may."""
    quality = quality_of(record)
    return {
        "quality": quality,
        "colour": COLOURS[quality.band],
        "edit_url": edit_url if can_change else "",
    }
