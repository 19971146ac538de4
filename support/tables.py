"""Rows of the ticket lists, rendered in Python.

Agents keep these pages open all day and each refreshes every minute: fifty rows of ten cells
through template includes and filters cost more than every query of the page together, so the
rows are built with ``format_html`` (which escapes every value) instead.
"""

from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from support.choices import TicketStatus

STATUS_BADGES = {
    TicketStatus.NEW: "text-bg-primary",
    TicketStatus.OPEN: "text-bg-info",
    TicketStatus.PENDING: "text-bg-warning",
    TicketStatus.ON_HOLD: "text-bg-secondary",
    TicketStatus.SOLVED: "text-bg-success",
}
PRIORITY_BADGES = {"urgent": "text-bg-danger", "high": "text-bg-warning", "low": "text-bg-light"}
#: Below this many business minutes left a countdown is shown as urgent.
SOON_MINUTES = 60


def _local(value, pattern: str = "%Y-%m-%d %H:%M") -> str:
    return timezone.localtime(value).strftime(pattern) if value else ""


def sla_cell(ticket) -> SafeString:
    """Business time left to the next SLA target (or overdue by), with the due instant and the
    remaining seconds as data for scripts; "paused" while waiting on the customer."""
    breached = ticket.first_response_breached or ticket.resolution_breached
    badge = mark_safe(' <span class="badge text-bg-danger">breached</span>' if breached else "")
    if ticket.sla_due_at is None:
        paused = ticket.status == TicketStatus.PENDING
        text = mark_safe('<span class="text-body-secondary">paused</span>' if paused else "—")
        return format_html("{}{}", text, badge)
    minutes = getattr(ticket, "countdown", None)
    if minutes is None:
        text, css = f"due {_local(ticket.sla_due_at)}", ""
    elif minutes < 0:
        text, css = f"overdue {ticket.countdown_text[1:]}", "text-danger fw-semibold"
    else:
        css = "text-warning-emphasis fw-semibold" if minutes < SOON_MINUTES else ""
        text = f"{ticket.countdown_text} left"
    return format_html(
        '<span title="Due {}" data-due="{}" data-remaining-seconds="{}" class="{}">{}</span>{}',
        _local(ticket.sla_due_at),
        timezone.localtime(ticket.sla_due_at).isoformat(),
        "" if minutes is None else ticket.countdown_seconds,
        css,
        text,
        badge,
    )


def ticket_row(ticket, *, may_bulk: bool) -> SafeString:
    """One ``<tr>`` of a ticket list (the columns of ``TicketListView.columns``)."""
    url = ticket.get_absolute_url()
    overdue = getattr(ticket, "countdown", None) is not None and ticket.countdown < 0
    checkbox = (
        format_html(
            '<input class="form-check-input" type="checkbox" name="tickets" value="{}" '
            'form="bulk-form" aria-label="Select {}">',
            ticket.pk,
            ticket.reference,
        )
        if may_bulk
        else ""
    )
    account = (
        format_html(' <span class="small text-body-secondary">{}</span>', ticket.account.name)
        if ticket.account_id
        else ""
    )
    return format_html(
        "<tr{}><td>{}</td>"
        '<td class="text-nowrap"><a href="{}">{}</a></td>'
        '<td><a href="{}">{}</a>{}</td>'
        '<td><span class="badge {}">{}</span></td>'
        '<td><span class="badge {}">{}</span></td>'
        "<td>{}</td><td>{}</td>"
        '<td class="text-nowrap small">{}</td>'
        '<td class="small">{}</td><td class="small">{}</td></tr>',
        mark_safe(' class="table-danger"') if overdue else "",
        checkbox,
        url,
        ticket.reference,
        url,
        ticket.subject,
        account,
        STATUS_BADGES.get(ticket.status, "text-bg-dark"),
        ticket.get_status_display(),
        PRIORITY_BADGES.get(ticket.priority, "text-bg-secondary"),
        ticket.get_priority_display(),
        ticket.queue or "—",
        ticket.assignee or "—",
        sla_cell(ticket),
        _local(ticket.created_at),
        _local(ticket.updated_at),
    )
