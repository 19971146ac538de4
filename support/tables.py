"""Rows of the ticket lists, rendered in Python.

Agents keep these pages open all day and each refreshes every minute: fifty rows of ten cells
through template includes and filters cost more than every query of the page together, so the
rows are built here, every value passing through ``escape``.
"""

from django.utils import timezone
from django.utils.safestring import mark_safe

from crm.links import record_url_maker
from crm.tables import custom_cells, e
from support.choices import Priority, TicketStatus

STATUS_BADGES = {
    TicketStatus.NEW: "text-bg-primary",
    TicketStatus.OPEN: "text-bg-info",
    TicketStatus.PENDING: "text-bg-warning",
    TicketStatus.ON_HOLD: "text-bg-secondary",
    TicketStatus.SOLVED: "text-bg-success",
}
PRIORITY_BADGES = {
    Priority.URGENT: "text-bg-danger",
    Priority.HIGH: "text-bg-warning",
    Priority.LOW: "text-bg-light",
}
#: Below this many business minutes left a countdown is shown as urgent.
SOON_MINUTES = 60
BREACHED = ' <span class="badge text-bg-danger">breached</span>'


def ticket_rows(tickets, *, may_bulk: bool) -> None:
    """Set ``row_html`` (one ``<tr>`` with the columns of ``TicketListView.columns``, then its
    custom field cells, ``custom_cells``) on each ticket of a page; expects
    ``selectors.attach_countdowns`` to have run."""
    tz = timezone.get_current_timezone()
    ticket_url = record_url_maker("support:ticket_detail")
    statuses = {value: e(label) for value, label in TicketStatus.choices}
    priorities = {value: e(label) for value, label in Priority.choices}

    def local(value, pattern="%Y-%m-%d %H:%M") -> str:
        return value.astimezone(tz).strftime(pattern) if value else ""

    for ticket in tickets:
        url = ticket_url(ticket.pk)
        reference = e(ticket.reference or "")
        minutes = getattr(ticket, "countdown", None)
        cells = [
            f'<input class="form-check-input" type="checkbox" name="tickets" value="{ticket.pk}" '
            f'form="bulk-form" aria-label="Select {reference}">'
            if may_bulk
            else "",
            f'<a href="{url}">{reference}</a>',
            f'<a href="{url}">{e(ticket.subject)}</a>'
            + (
                f' <span class="small text-body-secondary">{e(ticket.account.name)}</span>'
                if ticket.account_id
                else ""
            ),
            f'<span class="badge {STATUS_BADGES.get(ticket.status, "text-bg-dark")}">'
            f"{statuses.get(ticket.status, e(ticket.status))}</span>",
            f'<span class="badge {PRIORITY_BADGES.get(ticket.priority, "text-bg-secondary")}">'
            f"{priorities.get(ticket.priority, e(ticket.priority))}</span>",
            e(ticket.queue) if ticket.queue_id else "—",
            e(ticket.assignee) if ticket.assignee_id else "—",
            _sla_cell(ticket, minutes, local),
            local(ticket.created_at),
            local(ticket.updated_at),
        ]
        overdue = minutes is not None and minutes < 0
        custom = custom_cells(ticket).rstrip("\n")
        ticket.row_html = mark_safe(
            ('<tr class="table-danger">' if overdue else "<tr>") + f"<td>{cells[0]}</td>"
            f'<td class="text-nowrap">{cells[1]}</td>'
            f"<td>{cells[2]}</td><td>{cells[3]}</td><td>{cells[4]}</td>"
            f"<td>{cells[5]}</td><td>{cells[6]}</td>"
            f'<td class="text-nowrap small">{cells[7]}</td>'
            f'<td class="small">{cells[8]}</td><td class="small">{cells[9]}</td>{custom}</tr>'
        )


def _sla_cell(ticket, minutes, local) -> str:
    """Business time left to the next SLA target (or overdue by), with the due instant and the
    remaining seconds as data for scripts; "paused" while waiting on the customer."""
    badge = BREACHED if ticket.first_response_breached or ticket.resolution_breached else ""
    if getattr(ticket, "countdown_paused", False):
        # Frozen: no due instant or seconds for scripts, the time left does not run down.
        if minutes is None:
            return '<span class="text-body-secondary">paused</span>' + badge
        left = f"overdue {ticket.countdown_text[1:]}" if minutes < 0 else ticket.countdown_text
        return (
            '<span class="text-body-secondary" title="Waiting on the customer: the SLA clock '
            f'is stopped">paused · {e(left)}{"" if minutes < 0 else " left"}</span>' + badge
        )
    if ticket.sla_due_at is None:
        if ticket.status == TicketStatus.PENDING:
            return '<span class="text-body-secondary">paused</span>' + badge
        return "—" + badge
    if minutes is None:
        text, css, seconds = f"due {local(ticket.sla_due_at)}", "", ""
    elif minutes < 0:
        text, css = f"overdue {ticket.countdown_text[1:]}", "text-danger fw-semibold"
        seconds = ticket.countdown_seconds
    else:
        css = "text-warning-emphasis fw-semibold" if minutes < SOON_MINUTES else ""
        text, seconds = f"{ticket.countdown_text} left", ticket.countdown_seconds
    due, instant = local(ticket.sla_due_at), timezone.localtime(ticket.sla_due_at).isoformat()
    return (
        f'<span title="Due {due}" data-due="{instant}" '
        f'data-remaining-seconds="{seconds}" class="{css}">{e(text)}</span>{badge}'
    )
