"""The deal list's rows and the board's cards, written in Python (``crm.tables`` says why)."""

from django.template.defaultfilters import date as date_filter
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.timezone import template_localtime

from crm.links import record_url_maker
from crm.tables import bulk_checkbox, custom_cells, e, owner_texts, ymd
from sales.templatetags.sales_format import money

STATUS_BADGES = {"won": "success", "lost": "secondary"}


def opportunity_rows(deals, *, bulk: bool, custom: bool) -> str:
    """The rows of ``OpportunityListView.columns``."""
    parts = []
    tz = timezone.get_current_timezone()
    deal_url = record_url_maker("sales:opportunity_detail")
    owner = owner_texts()
    for deal in deals:
        name = e(deal.name)
        account = e(deal.account.name) if deal.account_id else ""
        stage = e(deal.stage.name) if deal.stage_id else ""
        parts.append(
            "<tr>\n"
            f"  {bulk_checkbox(deal.pk, name) if bulk else ''}\n"
            f'  <td><a href="{e(deal_url(deal.pk))}">{name}</a></td>\n'
            f"  <td>{account}</td>\n"
            f'  <td><span class="badge text-bg-{STATUS_BADGES.get(deal.status, "info")}">'
            f"{stage}</span></td>\n"
            f'  <td class="text-end">{e(deal.currency)} {e(money(deal.amount))}</td>\n'
            f'  <td class="text-end">{e(deal.probability)}%</td>\n'
            f'  <td class="small">{ymd(deal.expected_close_date) or "—"}</td>\n'
            f"  <td>{owner(deal)}</td>\n"
            f'  <td class="small">{ymd(deal.created_at, tz)}</td>\n'
            f"  {custom_cells(deal) if custom else ''}\n"
            "</tr>\n"
        )
    return mark_safe("".join(parts))


def _day(value) -> str:
    """``{{ value|date:"M j" }}`` (a time in the current time zone)."""
    return date_filter(template_localtime(value), "M j") if value else ""


def board_cards(cards) -> str:
    """The cards of a board column (``sales/_board.html``), each as its loop wrote it."""
    parts = []
    for card in cards:
        rotting = getattr(card, "rotting", False)
        since = (
            f'<div class="text-danger">Rotting: in stage since {e(_day(card.stage_entered_at))}'
            "</div>"
            if rotting
            else ""
        )
        parts.append(
            '\n        <div class="board-card card mb-1'
            f'{" border-danger bg-danger-subtle" if rotting else ""}" draggable="true" '
            f'data-id="{card.pk}">\n'
            '          <div class="card-body p-2 small">\n'
            f'            <a href="{e(card.get_absolute_url())}" class="fw-semibold">'
            f"{e(card.name)}</a>\n"
            f"            <div>{e(card.account.name) if card.account_id else ''}</div>\n"
            '            <div class="d-flex"><span class="me-auto">'
            f"{e(card.currency)} {e(money(card.amount, 0))}</span>"
            f'<span class="text-body-secondary">{e(_day(card.expected_close_date))}</span></div>\n'
            f"            {since}\n"
            "          </div>\n"
            "        </div>\n"
            "        "
        )
    return mark_safe("".join(parts))
