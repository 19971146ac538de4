"""The lead list's rows, written in Python (``crm.tables`` says why)."""

from django.utils import timezone
from django.utils.safestring import mark_safe

from crm.links import record_url_maker
from crm.tables import bulk_checkbox, custom_cells, e, owner_texts, quality_badge_html, ymd
from leads.models import Lead

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
    tz = timezone.get_current_timezone()
    lead_url = record_url_maker("leads:lead_detail")
    merge_url = None
    owner = owner_texts()
    # ``get_<field>_display``, escaped once for the page: a value outside the choices as it is.
    labels = {
        name: {value: e(label) for value, label in Lead._meta.get_field(name).flatchoices}
        for name in ("status", "source")
    }
    statuses, sources = labels["status"], labels["source"]
    for lead in leads:
        name = e(lead.full_name)
        duplicate = ""
        if lead.possible_duplicate:
            duplicate = (
                ' <span class="badge text-bg-warning" title="Possible duplicate">dup?</span>'
            )
            if lead.duplicate_of_id and lead.is_open:
                if merge_url is None:
                    merge_url = record_url_maker("leads:lead_merge")
                merge = merge_url(lead.duplicate_of_id)
                duplicate += f' <a class="small" href="{e(merge)}?with={lead.pk}">Merge</a>'
        campaign = e(lead.campaign.name) if lead.campaign_id is not None else ""
        status, source = lead.status, lead.source
        parts.append(
            "<tr>\n"
            f"  {bulk_checkbox(lead.pk, name)}\n"
            f'  <td><a href="{e(lead_url(lead.pk))}">{name}</a>{duplicate}'
            f'<div class="small text-body-secondary">{e(lead.email)}</div></td>\n'
            f"  <td>{e(lead.company_name)}</td>\n"
            f'  <td><span class="badge text-bg-{STATUS_BADGES.get(status, "light")}">'
            f"{statuses.get(status) or e(status)}</span></td>\n"
            f'  <td class="small">{sources.get(source) or e(source)}</td>\n'
            f'  <td class="small">{campaign}</td>\n'
            f"  <td>{owner(lead)}</td>\n"
            f'  <td class="text-end">{e(lead.score)}</td>\n'
            f'  <td><span class="badge text-bg-{GRADE_BADGES.get(lead.grade, "secondary")}">'
            f"{e(lead.grade)}</span></td>\n"
            f'  <td class="text-end">{quality_badge_html(lead.quality)}</td>\n'
            f'  <td class="small">{ymd(lead.created_at, tz)}</td>\n'
            f"  {custom_cells(lead) if custom else ''}\n"
            "</tr>\n"
        )
    return mark_safe("".join(parts))
