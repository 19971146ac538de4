"""The support dashboard's rollups: tickets per day for each assignee, account owner and manager
(``SupportDay``), per account (``AccountTicketsDay``, and the busy accounts of each month), and
the snapshot of the tickets open now (``OpenTickets``)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Q

from analytics.choices import Audience
from analytics.models import AccountTicketsDay, OpenTickets, SupportDay
from analytics.rollups.base import (
    days_of,
    first_day_of,
    insert_select,
    local_date_sql,
    packed_sql,
    run_sql,
    seconds_sql,
    table,
    window_params,
)
from crm.permissions import sees_all_tickets

# Tickets -------------------------------------------------------------------------------------


def _managers() -> list:
    """Users whose ticket view is their own (managers who are not agents or admins)."""
    from crm.choices import Role
    from crm.models import User

    users = User.objects.filter(is_active=True, groups__name=Role.MANAGER).distinct()
    return [u for u in users if not sees_all_tickets(u)]


def _manager_views() -> dict[str, list]:
    """What decides each manager's view of the tickets (the people and queues of the teams
    they manage), so a refresh notices a change and rewrites their rows of every day."""
    from support.models import Queue

    return {
        str(m.pk): [
            sorted(m.managed_user_ids),
            sorted(Queue.objects.filter(team__managers=m).values_list("pk", flat=True)),
        ]
        for m in _managers()
    }


def _manager_cells(managers, ticket_alias: str, source: str, within=None) -> tuple[str, list]:
    """SQL: one ``UNION ALL`` branch per manager, the rows of ``source`` whose ticket the
    manager may see (their visibility rule compiled to SQL, as the ticket list applies it).
    ``within`` (a ``Q``) narrows the tickets to those ``source`` can hold, so a month's
    statement reads that month's tickets, not every ticket."""
    from django.core.exceptions import EmptyResultSet

    from support.models import Ticket

    parts, params = [], []
    for manager in managers:
        visible = Ticket.objects.visible_to(manager)
        if within is not None:
            visible = visible.filter(within)
        try:
            visible, visible_params = visible.order_by().values("pk").query.sql_with_params()
        except EmptyResultSet:
            continue
        parts.append(
            f" UNION ALL SELECT %s AS audience, %s AS person, {source}.* FROM {source} "
            f"WHERE {source}.{ticket_alias} IN ({visible})"
        )
        params += [str(Audience.MANAGER), manager.pk, *visible_params]
    return "".join(parts), params


def _support_write(first: dt.date, last: dt.date) -> int:
    """The tickets created on the days and the survey answers given on them, per day,
    audience (assignee, account owner, each manager whose view is their own), person and
    priority: one INSERT ... SELECT ... GROUP BY over both."""
    from crm.models import Account
    from support.models import CsatSurvey, Ticket

    managers = _managers()
    start, end = window_params(first, last)
    created = Q(created_at__gte=start, created_at__lt=end)
    ticket_cells, ticket_params = _manager_cells(managers, "id", "t", within=created)
    survey_cells, survey_params = _manager_cells(managers, "ticket_id", "s")
    person_cells = (
        "SELECT %s AS audience, {src}.assignee_id AS person, {src}.* FROM {src} "
        "UNION ALL SELECT %s, {src}.account_owner, {src}.* FROM {src}"
    )
    audiences = [str(Audience.ASSIGNEE), str(Audience.ACCOUNT_OWNER)]
    sql = f"""
        WITH t AS MATERIALIZED (
            SELECT t.id, {local_date_sql("t.created_at")} AS day, t.assignee_id,
                   a.owner_id AS account_owner, t.priority, t.sla_policy_id,
                   {seconds_sql("t.first_responded_at", "t.created_at")} AS fr,
                   {seconds_sql("t.resolved_at", "t.created_at")} AS res,
                   t.first_responded_at IS NOT NULL AS responded,
                   t.resolved_at IS NOT NULL AS resolved,
                   t.first_response_breached AS fr_breached,
                   t.resolution_breached AS res_breached
            FROM {table(Ticket)} t LEFT JOIN {table(Account)} a ON a.id = t.account_id
            WHERE t.created_at >= %s AND t.created_at < %s AND t.merged_into_id IS NULL
        ), s AS MATERIALIZED (
            SELECT s.ticket_id, {local_date_sql("s.answered_at")} AS day, t.assignee_id,
                   a.owner_id AS account_owner, t.priority, s.rating
            FROM {table(CsatSurvey)} s JOIN {table(Ticket)} t ON t.id = s.ticket_id
            LEFT JOIN {table(Account)} a ON a.id = t.account_id
            WHERE s.answered_at >= %s AND s.answered_at < %s AND s.rating IS NOT NULL
              AND t.merged_into_id IS NULL
        ), ticket_cells AS (
            {person_cells.format(src="t")}{ticket_cells}
        ), survey_cells AS (
            {person_cells.format(src="s")}{survey_cells}
        ), cells AS (
            SELECT day, audience, person, priority, 1 AS tickets,
                   sla_policy_id IS NOT NULL AS sla,
                   responded OR fr_breached AS first_due,
                   responded AND NOT fr_breached AS first_met,
                   resolved OR res_breached AS resolution_due,
                   resolved AND NOT res_breached AS resolution_met,
                   fr, res, NULL::smallint AS rating
            FROM ticket_cells
            UNION ALL
            SELECT day, audience, person, priority, 0, false, false, false, false, false,
                   NULL, NULL, rating
            FROM survey_cells
        )
        INSERT INTO {table(SupportDay)} (date, audience, person_id, priority, tickets,
            sla_tickets, first_due, first_met, resolution_due, resolution_met, first_seconds,
            resolution_seconds, csat_answers, csat_rating_sum, csat_satisfied)
        SELECT day, audience, person, priority, SUM(tickets),
               COUNT(*) FILTER (WHERE sla), COUNT(*) FILTER (WHERE sla AND first_due),
               COUNT(*) FILTER (WHERE sla AND first_met),
               COUNT(*) FILTER (WHERE sla AND resolution_due),
               COUNT(*) FILTER (WHERE sla AND resolution_met),
               {packed_sql("fr")}, {packed_sql("res")},
               COUNT(rating), COALESCE(SUM(rating), 0), COUNT(*) FILTER (WHERE rating >= 4)
        FROM cells GROUP BY day, audience, person, priority
    """
    params = [
        start, end, start, end,
        *audiences, *ticket_params,
        *audiences, *survey_params,
    ]  # fmt: skip
    return insert_select(sql, params)


COUNTS = (
    "tickets", "sla_tickets", "first_due", "first_met", "resolution_due", "resolution_met",
    "csat_answers", "csat_rating_sum", "csat_satisfied",
)  # fmt: skip


def _account_write(first: dt.date, last: dt.date) -> int:
    """The tickets created on the days per day, account, assignee, queue and account owner."""
    from crm.models import Account
    from support.choices import ACTIVE_STATUSES, Priority
    from support.models import Ticket

    start, end = window_params(first, last)
    sql = f"""
        INSERT INTO {table(AccountTicketsDay)} (date, account_id, assignee_id, queue_id,
            account_owner_id, tickets, active, urgent)
        SELECT {local_date_sql("t.created_at")} AS day, t.account_id, t.assignee_id,
               t.queue_id, a.owner_id, COUNT(*), COUNT(*) FILTER (WHERE t.status = ANY(%s)),
               COUNT(*) FILTER (WHERE t.priority = ANY(%s))
        FROM {table(Ticket)} t JOIN {table(Account)} a ON a.id = t.account_id
        WHERE t.created_at >= %s AND t.created_at < %s AND t.merged_into_id IS NULL
        GROUP BY day, t.account_id, t.assignee_id, t.queue_id, a.owner_id
    """
    urgent = [str(Priority.HIGH), str(Priority.URGENT)]
    return insert_select(sql, [[str(s) for s in ACTIVE_STATUSES], urgent, start, end])


BUSY_AT_LEAST = 2


def _busy_months(days: set[dt.date]) -> int:
    """Rewrite the busy accounts of the months holding ``days`` from the per-day rows."""
    from analytics.models import BusyAccountMonth

    written = 0
    for month in sorted({d.replace(day=1) for d in days}):
        after = (month + dt.timedelta(days=32)).replace(day=1)
        with transaction.atomic():
            BusyAccountMonth.objects.filter(month=month).delete()
            written += run_sql(
                f"INSERT INTO {table(BusyAccountMonth)} (month, account_id, tickets) "
                f"SELECT %s, account_id, SUM(tickets) FROM {table(AccountTicketsDay)} "
                "WHERE date >= %s AND date < %s GROUP BY account_id HAVING SUM(tickets) >= %s",
                [month, month, after, BUSY_AT_LEAST],
            )
    return written


def _support_days_changed(since: dt.datetime) -> set[dt.date]:
    from support.models import CsatSurvey, Ticket

    changed = Ticket.objects.filter(updated_at__gte=since)
    days = days_of(changed, "created_at")
    surveys = CsatSurvey.objects.filter(answered_at__isnull=False).filter(
        Q(answered_at__gte=since) | Q(ticket__in=changed.values("pk"))
    )
    days |= days_of(surveys, "answered_at")
    return days


def _support_first_day() -> dt.date | None:
    from support.models import Ticket

    return first_day_of(Ticket.objects.all(), "created_at")


# The tickets open now -----------------------------------------------------------------------


def _open_tickets_rows(today: dt.date) -> list[OpenTickets]:
    from django.db.models import Count

    from support.choices import ACTIVE_STATUSES
    from support.models import Ticket

    active = Ticket.objects.filter(status__in=ACTIVE_STATUSES, merged_into__isnull=True).order_by()
    views = [
        (Audience.ASSIGNEE, None, active, "assignee_id"),
        (Audience.ACCOUNT_OWNER, None, active, "account__owner_id"),
        *(
            (Audience.MANAGER, m.pk, active.filter(pk__in=Ticket.objects.visible_to(m)), None)
            for m in _managers()
        ),
    ]
    out = []
    for audience, person, tickets, person_field in views:
        fields = ["status", "priority"] + ([person_field] if person_field else [])
        for r in tickets.values(*fields).annotate(n=Count("id")):
            out.append(
                OpenTickets(
                    audience=audience,
                    person_id=r[person_field] if person_field else person,
                    status=r["status"],
                    priority=r["priority"],
                    tickets=r["n"],
                )
            )
    return out
