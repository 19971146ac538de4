"""The support dashboard's rollups: tickets per day for each assignee, account owner and manager
(``SupportDay``), per account (``AccountTicketsDay``, and the busy accounts of each month), and
the snapshot of the tickets open now (``OpenTickets``)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import F, Q, Sum
from django.db.models.functions import TruncDate

from analytics.choices import Audience
from analytics.models import AccountTicketsDay, OpenTickets, SupportDay
from analytics.rollups.base import _in_days, _insert, days_of, first_day_of, pack
from analytics.sql import Seconds
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


def _support_rows(first: dt.date, last: dt.date) -> list[SupportDay]:
    from support.models import CsatSurvey, Ticket

    managers = _managers()
    window = _in_days("created_at", first, last)
    seen_by = {
        m.pk: set(Ticket.objects.visible_to(m).filter(window).values_list("pk", flat=True))
        for m in managers
    }
    groups: dict = {}

    def cells(seen_by, day, ticket_id, assignee, account_owner, priority):
        keys = [
            (day, Audience.ASSIGNEE, assignee, priority),
            (day, Audience.ACCOUNT_OWNER, account_owner, priority),
        ]
        keys += [
            (day, Audience.MANAGER, m, priority) for m, ids in seen_by.items() if ticket_id in ids
        ]
        for key in keys:
            g = groups.get(key)
            if g is None:
                g = groups[key] = {"fr": [], "res": [], **dict.fromkeys(COUNTS, 0)}
            yield g

    tickets = (
        Ticket.objects.filter(window, merged_into__isnull=True)
        .order_by()
        .annotate(
            day=TruncDate("created_at"),
            fr=Seconds(F("first_responded_at"), F("created_at")),
            res=Seconds(F("resolved_at"), F("created_at")),
        )
        .values_list(
            "pk",
            "day",
            "assignee_id",
            "account__owner_id",
            "priority",
            "sla_policy_id",
            "fr",
            "res",
            "first_responded_at",
            "resolved_at",
            "first_response_breached",
            "resolution_breached",
        )  # fmt: skip
    )
    for (
        pk, day, assignee, account_owner, priority, policy, fr, res, responded, resolved,
        fr_breached, res_breached,
    ) in tickets.iterator(chunk_size=5000):  # fmt: skip
        for g in cells(seen_by, day, pk, assignee, account_owner, priority):
            g["tickets"] += 1
            if fr is not None:
                g["fr"].append(fr)
            if res is not None:
                g["res"].append(res)
            if policy is not None:
                g["sla_tickets"] += 1
                g["first_due"] += responded is not None or fr_breached
                g["first_met"] += responded is not None and not fr_breached
                g["resolution_due"] += resolved is not None or res_breached
                g["resolution_met"] += resolved is not None and not res_breached
    # Survey answers count on the day they were given.
    answered = _in_days("answered_at", first, last)
    seen_by = {
        m.pk: set(
            Ticket.objects.visible_to(m)
            .filter(csat__in=CsatSurvey.objects.filter(answered))
            .values_list("pk", flat=True)
        )
        for m in managers
    }
    surveys = (
        CsatSurvey.objects.filter(answered, rating__isnull=False, ticket__merged_into__isnull=True)
        .order_by()
        .annotate(day=TruncDate("answered_at"))
        .values_list(
            "ticket_id",
            "day",
            "ticket__assignee_id",
            "ticket__account__owner_id",
            "ticket__priority",
            "rating",
        )  # fmt: skip
    )
    for ticket_id, day, assignee, account_owner, priority, rating in surveys.iterator(
        chunk_size=5000
    ):
        for g in cells(seen_by, day, ticket_id, assignee, account_owner, priority):
            g["csat_answers"] += 1
            g["csat_rating_sum"] += rating
            g["csat_satisfied"] += rating >= 4
    return [
        SupportDay(
            date=day,
            audience=audience,
            person_id=person,
            priority=priority,
            first_seconds=pack(g.pop("fr")),
            resolution_seconds=pack(g.pop("res")),
            **g,
        )  # fmt: skip
        for (day, audience, person, priority), g in groups.items()
    ]


COUNTS = (
    "tickets", "sla_tickets", "first_due", "first_met", "resolution_due", "resolution_met",
    "csat_answers", "csat_rating_sum", "csat_satisfied",
)  # fmt: skip


def _account_rows(first: dt.date, last: dt.date) -> list[AccountTicketsDay]:
    from django.db.models import Count

    from support.choices import ACTIVE_STATUSES, Priority
    from support.models import Ticket

    rows = (
        Ticket.objects.filter(
            _in_days("created_at", first, last), merged_into__isnull=True, account__isnull=False
        )
        .order_by()
        .annotate(day=TruncDate("created_at"))
        .values("day", "account_id", "assignee_id", "queue_id", "account__owner_id")
        .annotate(
            n=Count("id"),
            n_active=Count("id", filter=Q(status__in=ACTIVE_STATUSES)),
            n_urgent=Count("id", filter=Q(priority__in=[Priority.HIGH, Priority.URGENT])),
        )
    )
    return [
        AccountTicketsDay(
            date=r["day"],
            account_id=r["account_id"],
            assignee_id=r["assignee_id"],
            queue_id=r["queue_id"],
            account_owner_id=r["account__owner_id"],
            tickets=r["n"],
            active=r["n_active"],
            urgent=r["n_urgent"],
        )  # fmt: skip
        for r in rows.iterator(chunk_size=5000)
    ]


BUSY_AT_LEAST = 2


def _busy_months(days: set[dt.date]) -> int:
    """Rewrite the busy accounts of the months holding ``days`` from the per-day rows."""
    from analytics.models import BusyAccountMonth

    written = 0
    for month in sorted({d.replace(day=1) for d in days}):
        after = (month + dt.timedelta(days=32)).replace(day=1)
        rows = [
            BusyAccountMonth(month=month, account_id=r["account_id"], tickets=r["n"])
            for r in AccountTicketsDay.objects.filter(date__gte=month, date__lt=after)
            .order_by()
            .values("account_id")
            .annotate(n=Sum("tickets"))
            .filter(n__gte=BUSY_AT_LEAST)
        ]
        with transaction.atomic():
            BusyAccountMonth.objects.filter(month=month).delete()
            _insert(BusyAccountMonth, rows)
        written += len(rows)
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
