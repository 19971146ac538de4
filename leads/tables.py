"""The lead list's rows, written in Python (``crm.tables`` says why)."""

from django.utils.safestring import mark_safe

from crm.links import record_url
from crm.tables import bulk_checkbox, custom_cells, e, owner_text, ymd
from crm.templatetags.quality import quality_badge

STATUS_BADGES = {
    "qualified": "success",
    "converted": "primary",
    "disqualified": "secondary",
    "new": "info",
}
GRADE_BADGES = {"A": "success", "B": "primary", "C": "warning"}


def lead_rows(leads, *, custom: bool) -> str:
    """The rows of ``LeadListView.columns``, each starting with the bulk bar's tick box."""
    parts = []
    for lead in leads:
        name = e(lead.full_name)
        duplicate = ""
        if lead.possible_duplicate:
            duplicate = (
                ' <span class="badge text-bg-warning" title="Possible duplicate">dup?</span>'
            )
            if lead.duplicate_of_id and lead.is_open:
                merge = record_url("leads:lead_merge", lead.duplicate_of_id)
                duplicate += f' <a class="small" href="{e(merge)}?with={lead.pk}">Merge</a>'
        campaign = e(lead.campaign.name) if lead.campaign else ""
        parts.append(
            "<tr>\n"
            f"  {bulk_checkbox(lead.pk, name)}\n"
            f'  <td><a href="{e(lead.get_absolute_url())}">{name}</a>{duplicate}'
            f'<div class="small text-body-secondary">{e(lead.email)}</div></td>\n'
            f"  <td>{e(lead.company_name)}</td>\n"
            f'  <td><span class="badge text-bg-{STATUS_BADGES.get(lead.status, "light")}">'
            f"{e(lead.get_status_display())}</span></td>\n"
            f'  <td class="small">{e(lead.get_source_display())}</td>\n'
            f'  <td class="small">{campaign}</td>\n'
            f"  <td>{owner_text(lead.owner)}</td>\n"
            f'  <td class="text-end">{e(lead.score)}</td>\n'
            f'  <td><span class="badge text-bg-{GRADE_BADGES.get(lead.grade, "secondary")}">'
            f"{e(lead.grade)}</span></td>\n"
            f'  <td class="text-end">{quality_badge(lead.quality)}</td>\n'
            f'  <td class="small">{ymd(lead.created_at)}</td>\n'
            f"  {custom_cells(lead) if custom else ''}\n"
            "</tr>\n"
        )
    return mark_safe("".join(parts))
