"""Support dashboard: the backlog, how fast the desk answers and solves, SLAs, satisfaction,
and which accounts need the most help.

Durations are wall-clock (created → first response / resolution), not business hours; the SLA
attainment figure is where business hours count (the desk's own breach flags).

With a segment chosen, each figure reads the tickets (and CSAT answers) of the segment's
accounts instead of the rollups, into the same final computation.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, F, Q, Sum, Value
from django.db.models.functions import TruncMonth

from analytics import rollups
from analytics.choices import Audience
from analytics.dashboards import history
from analytics.dashboards.base import Col, Figure, Scope, percent
from analytics.models import AccountTicketsDay, BusyAccountMonth, OpenTickets, SupportDay
from analytics.sql import Seconds
from analytics.sql import percentiles as sql_percentiles
from crm.models import Account
from crm.permissions import sees_all_tickets
from support.choices import ACTIVE_STATUSES, Priority, TicketStatus
from support.models import CsatSurvey, Ticket

HOUR = 3600.0
FRACTIONS = {"median": 0.5, "p90": 0.9}


def _tickets(scope: Scope):
    """The tickets of the segment's accounts the user may see, counted once each as in the
    rollups: by assignee when people are chosen; a pinned rep's accounts' tickets."""
    tickets = Ticket.objects.visible_to(scope.user).filter(merged_into__isnull=True)
    if not scope.pinned:
        tickets = scope.owned(tickets, "assignee")
    return scope.in_segment(tickets).order_by()


def _created(scope: Scope):
    return scope.between(_tickets(scope), "created_at")


def backlog_now(scope: Scope) -> list[dict]:
    cells = (
        _audience_rows(scope, OpenTickets.objects.visible_to(scope.user))
        .values("status", "priority")
        .annotate(n=Sum("tickets"))
    )
    return _backlog_rows(cells)


def backlog_now_live(scope: Scope) -> list[dict]:
    cells = (
        _tickets(scope)
        .filter(status__in=ACTIVE_STATUSES)
        .values("status", "priority")
        .annotate(n=Count("id"))
    )
    return _backlog_rows(cells)


def _backlog_rows(cells) -> list[dict]:
    table = {}
    for c in cells:  # at most statuses × priorities rows, summed in SQL
        table.setdefault(c["status"], {})[c["priority"]] = c["n"]
    labels = dict(TicketStatus.choices)
    rows = []
    for status in ACTIVE_STATUSES:
        if status not in table:
            continue
        row = {"status": labels[status]}
        for priority in Priority.values:
            row[priority] = table[status].get(priority, 0)
        row["total"] = sum(table[status].values())
        rows.append(row)
    return rows


def _audience_rows(scope: Scope, rows):
    """Rollup rows counting each ticket the user may see once: rows by assignee when people
    are chosen, else the user's own view (every assignee's rows for agents and admins, the
    rows made for a manager, a rep's accounts')."""
    if not scope.pinned and scope.owner_ids is not None:
        return rows.filter(audience=Audience.ASSIGNEE, person_id__in=scope.owner_ids).order_by()
    user = scope.user
    if sees_all_tickets(user):
        audience = Audience.ASSIGNEE
    elif user.is_manager:
        audience = Audience.MANAGER
    else:
        audience = Audience.ACCOUNT_OWNER
    return rows.filter(audience=audience).order_by()


def _support_days(scope: Scope):
    days = SupportDay.objects.visible_to(scope.user).filter(
        date__gte=scope.start, date__lte=scope.end
    )
    return _audience_rows(scope, days)


def response_times(scope: Scope) -> list[dict]:
    groups = rollups.grouped(
        _support_days(scope).filter(tickets__gt=0),
        "priority",
        ("first_seconds", "resolution_seconds"),
        sums=("tickets",),
    )
    return _response_rows(
        {p: g["tickets"] for p, g in groups.items()},
        {p: rollups.percentiles([g["first_seconds"]], FRACTIONS, scale=HOUR) for p, g in groups.items()},
        {p: rollups.percentiles([g["resolution_seconds"]], FRACTIONS, scale=HOUR) for p, g in groups.items()},
    )  # fmt: skip


def response_times_live(scope: Scope) -> list[dict]:
    tickets = _created(scope)

    def hours_to(field):
        return sql_percentiles(
            tickets, Seconds(F(field), F("created_at")) / Value(HOUR), FRACTIONS,
            group_by="priority",
        )  # fmt: skip

    counts = dict(tickets.values("priority").annotate(n=Count("id")).values_list("priority", "n"))
    return _response_rows(counts, hours_to("first_responded_at"), hours_to("resolved_at"))


def _response_rows(counts: dict, first: dict, resolution: dict) -> list[dict]:
    """Per priority with tickets: the count and the hours' median and 90th percentile."""
    labels = dict(Priority.choices)

    def hours(stats, priority, name):
        value = stats.get(priority, {}).get(name)
        return round(value, 1) if value is not None else None

    return [
        {
            "priority": labels[p],
            "tickets": counts[p],
            "first_median": hours(first, p, "median"),
            "first_p90": hours(first, p, "p90"),
            "resolution_median": hours(resolution, p, "median"),
            "resolution_p90": hours(resolution, p, "p90"),
        }
        for p in Priority.values
        if counts.get(p)
    ]


def sla_attainment(scope: Scope) -> list[dict]:
    rows = (
        _support_days(scope)
        .values("priority")
        .annotate(
            tickets=Sum("sla_tickets"),
            first_due=Sum("first_due"),
            first_met=Sum("first_met"),
            resolution_due=Sum("resolution_due"),
            resolution_met=Sum("resolution_met"),
        )
        .filter(tickets__gt=0)
    )
    return _sla_rows(rows)


def sla_attainment_live(scope: Scope) -> list[dict]:
    responded = Q(first_responded_at__isnull=False)
    resolved = Q(resolved_at__isnull=False)
    rows = (
        _created(scope)
        .filter(sla_policy__isnull=False)
        .values("priority")
        .annotate(
            tickets=Count("id"),
            first_due=Count("id", filter=responded | Q(first_response_breached=True)),
            first_met=Count("id", filter=responded & Q(first_response_breached=False)),
            resolution_due=Count("id", filter=resolved | Q(resolution_breached=True)),
            resolution_met=Count("id", filter=resolved & Q(resolution_breached=False)),
        )
    )
    return _sla_rows(rows)


def _sla_rows(rows) -> list[dict]:
    by_priority = {r["priority"]: r for r in rows}
    labels = dict(Priority.choices)
    return [
        {
            "priority": labels[p],
            "tickets": r["tickets"],
            "first_met": r["first_met"],
            "first_due": r["first_due"],
            "first_rate": percent(r["first_met"], r["first_due"]),
            "resolution_met": r["resolution_met"],
            "resolution_due": r["resolution_due"],
            "resolution_rate": percent(r["resolution_met"], r["resolution_due"]),
        }
        for p in Priority.values
        if (r := by_priority.get(p))
    ]


def csat_by_month(scope: Scope) -> list[dict]:
    rows = (
        _support_days(scope)
        .annotate(month=TruncMonth("date"))
        .values("month")
        .annotate(
            answers=Sum("csat_answers"),
            ratings=Sum("csat_rating_sum"),
            satisfied=Sum("csat_satisfied"),
        )
    )
    return _csat_rows(rows)


def csat_by_month_live(scope: Scope) -> list[dict]:
    surveys = CsatSurvey.objects.filter(ticket__in=_tickets(scope).values("pk"))
    rows = (
        scope.between(surveys, "answered_at")
        .filter(rating__isnull=False)
        .order_by()
        .annotate(month=TruncMonth("answered_at"))
        .values("month")
        .annotate(
            answers=Count("id"),
            ratings=Sum("rating"),
            satisfied=Count("id", filter=Q(rating__gte=4)),
        )
    )
    return _csat_rows(rows)


def _csat_rows(rows) -> list[dict]:
    rows = rows.filter(answers__gt=0).order_by("month")
    return [
        {
            "month": r["month"].strftime("%Y-%m"),
            "answers": r["answers"],
            "average": round(r["ratings"] / r["answers"], 2),
            "csat": percent(r["satisfied"], r["answers"]),
        }
        for r in rows
    ]


TOP_ACCOUNTS = 15


def tickets_per_account(scope: Scope) -> list[dict]:
    days = AccountTicketsDay.objects.visible_to(scope.user).filter(
        date__gte=scope.start, date__lte=scope.end
    )
    if not scope.pinned:  # a pinned rep sees their accounts' tickets, whoever works them
        days = scope.owned(days, "assignee")
    counts = (
        days.order_by()
        .values("account_id")
        .annotate(n=Sum("tickets"), n_active=Sum("active"), n_urgent=Sum("urgent"))
    )
    return _account_rows(_leading_accounts(scope, counts))


def tickets_per_account_live(scope: Scope) -> list[dict]:
    counts = (
        _created(scope)
        .filter(account__isnull=False)
        .values("account_id")
        .annotate(
            n=Count("id"),
            n_active=Count("id", filter=Q(status__in=ACTIVE_STATUSES)),
            n_urgent=Count("id", filter=Q(priority__in=[Priority.HIGH, Priority.URGENT])),
        )
    )
    return _account_rows(_top(counts))


def _account_rows(rows: list[dict]) -> list[dict]:
    """The leading accounts by tickets, ties by name."""
    names = dict(
        Account.objects.filter(pk__in=[r["account_id"] for r in rows]).values_list("pk", "name")
    )
    rows.sort(key=lambda r: (-r["n"], names.get(r["account_id"], "")))
    return [
        {
            "account": names.get(r["account_id"]),
            "tickets": r["n"],
            "active": r["n_active"],
            "urgent": r["n_urgent"],
        }
        for r in rows[:TOP_ACCOUNTS]
    ]


def _leading_accounts(scope: Scope, counts) -> list[dict]:
    """The accounts with the most tickets, and every account tied with the last one shown
    (they are ordered by name). Tried first among the accounts busy in a month of the range:
    over n months, an account with at least n·(c−1)+1 tickets had c in one of them, so when
    the last one shown has that many, nobody else can be ahead of it. Else every account."""
    months = []
    month = scope.start.replace(day=1)
    while month <= scope.end:
        months.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    for busy in (5, 3, rollups.BUSY_AT_LEAST):
        candidates = BusyAccountMonth.objects.filter(month__in=months, tickets__gte=busy)
        rows = _top(counts.filter(account_id__in=candidates.values("account_id")))
        if (
            len(rows) >= TOP_ACCOUNTS
            and rows[TOP_ACCOUNTS - 1]["n"] >= len(months) * (busy - 1) + 1
        ):
            return rows
    return _top(counts)


def _top(counts) -> list[dict]:
    rows = list(counts.order_by("-n")[: TOP_ACCOUNTS * 10])
    if len(rows) > TOP_ACCOUNTS:
        least = rows[TOP_ACCOUNTS - 1]["n"]
        if len(rows) == TOP_ACCOUNTS * 10 and rows[-1]["n"] == least:
            rows = list(counts.filter(n__gte=least))
        rows = [r for r in rows if r["n"] >= least]
    return rows


FIGURES = (
    Figure(
        key="backlog",
        rollups=("open_tickets",),
        title="Backlog by status and priority",
        how="Tickets not solved or closed (as of the last refresh; merged ones left out), "
        "counted by status and priority. Ignores the date range.",
        compute=backlog_now,
        live=backlog_now_live,
        columns=(
            Col("status", "Status"),
            *(Col(value, label, "int") for value, label in Priority.choices),
            Col("total", "Total", "int"),
        ),
        label="status",
        series=tuple(Priority.values),
        stacked=True,
    ),
    history.BACKLOG_OVER_TIME,
    Figure(
        key="response_times",
        rollups=("support",),
        title="First response and resolution time",
        how="Tickets created in the range, per priority: hours from creation to the first "
        "public reply and to resolution (wall-clock), median and 90th percentile (exact, "
        "over every ticket's durations kept in the rollup).",
        compute=response_times,
        live=response_times_live,
        columns=(
            Col("priority", "Priority"),
            Col("tickets", "Tickets", "int"),
            Col("first_median", "First response median (h)", "hours"),
            Col("first_p90", "First response p90 (h)", "hours"),
            Col("resolution_median", "Resolution median (h)", "hours"),
            Col("resolution_p90", "Resolution p90 (h)", "hours"),
        ),
        label="priority",
        series=("first_median", "first_p90", "resolution_median", "resolution_p90"),
    ),
    Figure(
        key="sla",
        rollups=("support",),
        title="SLA attainment",
        how="Tickets created in the range under an SLA policy, per priority: met = answered "
        "(or resolved) without breaching the target in business hours; due = met or breached; "
        "attainment = met ÷ due. Tickets still inside their target are not counted yet.",
        compute=sla_attainment,
        live=sla_attainment_live,
        columns=(
            Col("priority", "Priority"),
            Col("tickets", "Tickets", "int"),
            Col("first_met", "First response met", "int"),
            Col("first_due", "First response due", "int"),
            Col("first_rate", "First response attainment", "percent"),
            Col("resolution_met", "Resolution met", "int"),
            Col("resolution_due", "Resolution due", "int"),
            Col("resolution_rate", "Resolution attainment", "percent"),
        ),
        label="priority",
        series=("first_rate", "resolution_rate"),
    ),
    Figure(
        key="csat",
        rollups=("support",),
        title="Customer satisfaction (CSAT)",
        how="Survey answers given in the range, per month: CSAT = answers rating 4 or 5 ÷ all "
        "answers; average rating on the 1–5 scale.",
        compute=csat_by_month,
        live=csat_by_month_live,
        columns=(
            Col("month", "Month"),
            Col("answers", "Answers", "int"),
            Col("average", "Average rating", "number"),
            Col("csat", "CSAT", "percent"),
        ),
        label="month",
        series=("csat",),
        chart="line",
    ),
    Figure(
        key="per_account",
        rollups=("accounts",),
        title="Tickets per account",
        how="Tickets created in the range per account, the 15 accounts with most; active = not "
        "solved or closed now; urgent = high or urgent priority.",
        compute=tickets_per_account,
        live=tickets_per_account_live,
        columns=(
            Col("account", "Account"),
            Col("tickets", "Tickets", "int"),
            Col("active", "Active", "int"),
            Col("urgent", "High or urgent", "int"),
        ),
        label="account",
        series=("tickets",),
        chart="hbar",
    ),
)
