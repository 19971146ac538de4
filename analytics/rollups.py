"""The dashboards' rollups: per-day aggregates of leads, closed deals, stage changes and
tickets, kept by Celery so a dashboard reads a few thousand small rows instead of scanning
millions (``LeadDay``, ``DealDay``, ``StageDay``, ``SupportDay``).

A rollup is always rewritten a whole day at a time: the day's rows are deleted and recomputed
from the records in one transaction, so rerunning a refresh (or a crash and retry) leaves the
same rows. ``rollups_refresh`` (beat, every 15 minutes) rewrites today, yesterday and every day
holding a record changed since its previous run; ``rollups_rebuild`` (nightly, and the
``rebuild_rollups`` command) rewrites every day, which also catches what the refresh cannot see
(deleted records, bulk updates that leave ``updated_at`` alone, reassigned teams).

Durations are stored per row as packed float64 seconds; ``percentiles`` concatenates the rows'
durations and interpolates between the nearest ranks like PostgreSQL's ``percentile_cont``, so a
median read from the rollup equals the one computed over the records.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

import numpy as np
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import (
    Aggregate,
    BinaryField,
    Case,
    Exists,
    F,
    FloatField,
    Min,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce, TruncDate
from django.utils import timezone

from analytics.choices import Audience
from analytics.models import (
    AccountTicketsDay,
    ChurnDay,
    CohortCell,
    DealDay,
    HealthSummary,
    LeadDay,
    MrrDay,
    MrrMoveDay,
    NpsDay,
    OpenDeals,
    OpenTickets,
    RollupState,
    StageDay,
    SupportDay,
    ValueSummary,
)
from analytics.services import job_claim, job_release
from analytics.sql import Seconds
from crm.permissions import sees_all_tickets

logger = logging.getLogger(__name__)

ROLLUPS_JOB = "rollups"
REFRESH_OVERLAP = dt.timedelta(minutes=5)  # re-read a little before the last run: clock skew
WINDOW_DAYS = 31  # a rebuild reads the records a month at a time
DURATION = np.dtype("<f8")


# Durations -----------------------------------------------------------------------------------


def pack(values: Iterable[float]) -> bytes:
    return np.asarray(list(values), dtype=DURATION).tobytes()


def unpack(blob) -> np.ndarray:
    return np.frombuffer(blob if blob else b"", dtype=DURATION)


def percentiles(blobs: Iterable, fractions: dict[str, float], scale: float = 1.0) -> dict:
    """``{name: value}`` of the durations packed in ``blobs`` (divided by ``scale``); None when
    there are none. Linear between the nearest ranks, as ``percentile_cont``."""
    arrays = [unpack(b) for b in blobs if b]
    values = np.concatenate(arrays) if len(arrays) > 1 else arrays[0] if arrays else None
    if values is None or not values.size:
        return dict.fromkeys(fractions)
    found = np.percentile(values, [f * 100 for f in fractions.values()])
    return {name: float(v) / scale for name, v in zip(fractions, found, strict=True)}


def count(blobs: Iterable) -> int:
    return sum(len(b or b"") for b in blobs) // DURATION.itemsize


class ConcatBytes(Aggregate):
    """PostgreSQL's ``string_agg`` of byte strings: a group's packed durations in one value."""

    function = "string_agg"
    template = "%(function)s(%(expressions)s, ''::bytea)"
    output_field = BinaryField()


def grouped(queryset, group: str, durations: Iterable[str], sums: Iterable[str] = ()) -> dict:
    """``{group value: {field: value}}`` of a rollup queryset: each durations field's rows
    joined into one packed value, each sums field added up, in one GROUP BY."""
    durations, sums = tuple(durations), tuple(sums)
    rows = (
        queryset.order_by()
        .values(group)
        .annotate(**{f"_{f}": ConcatBytes(f) for f in durations}, **{f"_{f}": Sum(f) for f in sums})
    )
    return {r[group]: {f: r[f"_{f}"] for f in durations + sums} for r in rows}


# Days ----------------------------------------------------------------------------------------


def day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def local_day(moment: dt.datetime | None) -> dt.date | None:
    return timezone.localdate(moment) if moment is not None else None


def days_of(queryset, field: str) -> set[dt.date]:
    """The days the rows' datetime ``field`` falls on."""
    return set(queryset.annotate(day=TruncDate(field)).values_list("day", flat=True))


def first_day_of(queryset, field: str) -> dt.date | None:
    """The local day of the earliest datetime ``field`` among the rows."""
    return local_day(queryset.order_by(field).values_list(field, flat=True).first())


def spans(days: Iterable[dt.date]) -> list[tuple[dt.date, dt.date]]:
    """Sorted days as (first, last) runs of consecutive days, none longer than a window."""
    out: list[list[dt.date]] = []
    for day in sorted(set(days)):
        if (
            out
            and day - out[-1][1] == dt.timedelta(days=1)
            and (day - out[-1][0]).days < WINDOW_DAYS
        ):
            out[-1][1] = day
        else:
            out.append([day, day])
    return [(a, b) for a, b in out]


def _in_days(field: str, first: dt.date, last: dt.date) -> Q:
    return Q(
        **{
            f"{field}__gte": day_start(first),
            f"{field}__lt": day_start(last + dt.timedelta(days=1)),
        }
    )


# Leads ---------------------------------------------------------------------------------------


def lead_history() -> dict:
    """Annotations of a ``Lead``: whether a deal was made from it and whether one is won, the
    seconds from creation to the first call, email or meeting a person logged on it, and, for
    a lead that reached Qualified, to when it was first set to Qualified (the status change on
    its timeline), else converted (a lead converted straight away is qualified then). Shared by
    the rollup and the dashboard's live path."""
    from crm.choices import ActivityKind
    from crm.models import Activity
    from leads.choices import LeadStatus
    from leads.models import Lead
    from sales.choices import StageKind
    from sales.models import Opportunity

    lead_type = ContentType.objects.get_for_model(Lead)
    touches = (ActivityKind.CALL, ActivityKind.EMAIL, ActivityKind.MEETING)
    first_touch = Subquery(
        Activity.objects.filter(
            content_type=lead_type, object_id=OuterRef("pk"), kind__in=touches, actor__isnull=False
        )
        .order_by()
        .values("object_id")
        .annotate(first=Min("occurred_at"))
        .values("first")[:1]
    )
    status_change = Subquery(
        Activity.objects.filter(
            content_type=lead_type,
            object_id=OuterRef("pk"),
            kind=ActivityKind.SYSTEM,
            summary__startswith="Status:",
            summary__endswith="→ Qualified",
        )
        .order_by()
        .values("object_id")
        .annotate(first=Min("occurred_at"))
        .values("first")[:1]
    )
    deals = Opportunity.objects.filter(source_lead=OuterRef("pk"))
    return {
        "has_deal": Exists(deals),
        "has_win": Exists(deals.filter(status=StageKind.WON)),
        "touch": Seconds(first_touch, F("created_at")),
        "qualify": Case(
            When(
                status__in=(LeadStatus.QUALIFIED, LeadStatus.CONVERTED),
                then=Seconds(Coalesce(status_change, F("converted_at")), F("created_at")),
            ),
            default=Value(None),
            output_field=FloatField(),
        ),
    }


def _lead_rows(first: dt.date, last: dt.date) -> list[LeadDay]:
    from leads.choices import LeadStatus
    from leads.models import Lead

    reached = (LeadStatus.QUALIFIED, LeadStatus.CONVERTED)
    rows = (
        Lead.objects.filter(_in_days("created_at", first, last))
        .order_by()
        .annotate(day=TruncDate("created_at"), **lead_history())
        .values_list(
            "day",
            "owner_id",
            "source",
            "campaign_id",
            "status",
            "has_deal",
            "has_win",
            "touch",
            "qualify",
        )  # fmt: skip
    )
    groups: dict = {}
    for day, owner, source, campaign, status, has_deal, has_win, touch, qualify in rows.iterator(
        chunk_size=5000
    ):
        g = groups.get((day, owner, source, campaign))
        if g is None:
            g = groups[(day, owner, source, campaign)] = [0, 0, 0, 0, 0, [], []]
        g[0] += 1
        g[1] += status in reached
        g[2] += status == LeadStatus.CONVERTED
        g[3] += bool(has_deal)
        g[4] += bool(has_win)
        if touch is not None:
            g[5].append(touch)
        if qualify is not None:
            g[6].append(qualify)
    return [
        LeadDay(
            date=day,
            owner_id=owner,
            source=source,
            campaign_id=campaign,
            leads=g[0],
            qualified=g[1],
            converted=g[2],
            with_deal=g[3],
            won=g[4],
            touch_seconds=pack(g[5]),
            qualify_seconds=pack(g[6]),
        )  # fmt: skip
        for (day, owner, source, campaign), g in groups.items()
    ]


def _lead_days_changed(since: dt.datetime) -> set[dt.date]:
    from crm.models import Activity
    from leads.models import Lead
    from sales.models import Opportunity

    lead_type = ContentType.objects.get_for_model(Lead)
    changed = Lead.objects.filter(
        Q(updated_at__gte=since)
        | Q(pk__in=Opportunity.objects.filter(updated_at__gte=since).values("source_lead_id"))
        | Q(
            pk__in=Activity.objects.filter(content_type=lead_type, created_at__gte=since).values(
                "object_id"
            )
        )
    )
    return days_of(changed, "created_at")


def _lead_first_day() -> dt.date | None:
    from leads.models import Lead

    return first_day_of(Lead.objects.all(), "created_at")


# Deals ---------------------------------------------------------------------------------------


def _deal_rows(first: dt.date, last: dt.date) -> list[DealDay]:
    from sales.choices import StageKind
    from sales.models import Opportunity

    rows = (
        Opportunity.objects.exclude(status=StageKind.OPEN)
        .filter(_in_days("closed_at", first, last))
        .order_by()
        .annotate(day=TruncDate("closed_at"), cycle=Seconds(F("closed_at"), F("created_at")))
        .values_list(
            "day", "owner_id", "status", "source_lead__source", "campaign_id", "amount", "cycle"
        )  # fmt: skip
    )
    groups: dict = {}
    for day, owner, status, source, campaign, amount, cycle in rows.iterator(chunk_size=5000):
        key = (day, owner, status, source or "", campaign)
        g = groups.get(key)
        if g is None:
            g = groups[key] = [0, Decimal("0"), 0.0]
        g[0] += 1
        g[1] += amount or 0
        g[2] += cycle or 0.0
    return [
        DealDay(
            date=day,
            owner_id=owner,
            status=status,
            source=source,
            campaign_id=campaign,
            deals_count=g[0],
            amount=g[1],
            cycle_seconds=g[2],
        )  # fmt: skip
        for (day, owner, status, source, campaign), g in groups.items()
    ]


def _deal_days_changed(since: dt.datetime) -> set[dt.date]:
    from sales.models import Opportunity

    return days_of(
        Opportunity.objects.filter(updated_at__gte=since, closed_at__isnull=False), "closed_at"
    )


def _deal_first_day() -> dt.date | None:
    from sales.models import Opportunity

    return first_day_of(Opportunity.objects.filter(closed_at__isnull=False), "closed_at")


# Stage changes -------------------------------------------------------------------------------


def stage_history() -> dict:
    """Annotations of a ``StageChange``: whether it moved the deal on (to a later stage, not
    lost), and when the deal last entered the same stage and last moved on from the same stage
    before it (None if never): a change is the first of its kind in a range if that is before
    the range. Shared by the rollup and the dashboard's live path."""
    from sales.choices import StageKind
    from sales.models import StageChange

    earlier = Q(changed_at__lt=OuterRef("changed_at")) | Q(
        changed_at=OuterRef("changed_at"), pk__lt=OuterRef("pk")
    )
    same_deal = StageChange.objects.filter(earlier, opportunity_id=OuterRef("opportunity_id"))
    advance = Q(from_stage__isnull=False, to_stage__order__gt=F("from_stage__order")) & ~Q(
        to_stage__kind=StageKind.LOST
    )
    entered_before = Subquery(
        same_deal.filter(to_stage_id=OuterRef("to_stage_id"))
        .order_by("-changed_at", "-pk")
        .values("changed_at")[:1]
    )
    advanced_before = Subquery(
        same_deal.filter(advance, from_stage_id=OuterRef("from_stage_id"))
        .order_by("-changed_at", "-pk")
        .values("changed_at")[:1]
    )
    return {
        "advanced": Case(When(advance, then=Value(True)), default=Value(False)),
        "entered_before": entered_before,
        "advanced_before": Case(When(advance, then=advanced_before), default=Value(None)),
    }


def _stage_rows(first: dt.date, last: dt.date) -> list[StageDay]:
    from sales.models import StageChange

    rows = (
        StageChange.objects.filter(_in_days("changed_at", first, last))
        .order_by()
        .annotate(day=TruncDate("changed_at"), **stage_history())
        .values_list(
            "day",
            "opportunity__owner_id",
            "from_stage_id",
            "to_stage_id",
            "advanced",
            "entered_before",
            "advanced_before",
            "seconds_in_from_stage",
        )  # fmt: skip
    )
    groups: dict = {}
    for day, owner, from_id, to_id, advanced, entered, moved, seconds in rows.iterator(
        chunk_size=5000
    ):
        key = (day, owner, from_id, to_id, bool(advanced), local_day(entered), local_day(moved))
        g = groups.get(key)
        if g is None:
            g = groups[key] = [0, []]
        g[0] += 1
        if seconds is not None and from_id is not None:
            g[1].append(float(seconds))
    return [
        StageDay(
            date=day,
            owner_id=owner,
            from_stage_id=from_id,
            to_stage_id=to_id,
            advanced=advanced,
            entered_before=entered,
            advanced_before=moved,
            moves=g[0],
            seconds=pack(g[1]),
        )  # fmt: skip
        for (day, owner, from_id, to_id, advanced, entered, moved), g in groups.items()
    ]


def _stage_days_changed(since: dt.datetime) -> set[dt.date]:
    from sales.models import Opportunity, StageChange

    return days_of(
        StageChange.objects.filter(
            Q(changed_at__gte=since)
            | Q(opportunity__in=Opportunity.objects.filter(updated_at__gte=since).values("pk"))
        ),
        "changed_at",
    )


def _stage_first_day() -> dt.date | None:
    from sales.models import StageChange

    return first_day_of(StageChange.objects.all(), "changed_at")


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


# NPS and health ------------------------------------------------------------------------------


def _nps_rows(first: dt.date, last: dt.date) -> list[NpsDay]:
    from django.db.models import Count

    from retention.models import NpsSurvey

    rows = (
        NpsSurvey.objects.filter(_in_days("answered_at", first, last), score__isnull=False)
        .order_by()
        .annotate(day=TruncDate("answered_at"))
        .values("day", "account__owner_id")
        .annotate(
            n=Count("id"),
            n_promoters=Count("id", filter=Q(score__gte=9)),
            n_detractors=Count("id", filter=Q(score__lte=6)),
        )
    )
    return [
        NpsDay(
            date=r["day"],
            owner_id=r["account__owner_id"],
            answers=r["n"],
            promoters=r["n_promoters"],
            detractors=r["n_detractors"],
        )  # fmt: skip
        for r in rows
    ]


def _nps_days_changed(since: dt.datetime) -> set[dt.date]:
    from retention.models import NpsSurvey

    return days_of(NpsSurvey.objects.filter(answered_at__gte=since), "answered_at")


def _nps_first_day() -> dt.date | None:
    from retention.models import NpsSurvey

    return first_day_of(NpsSurvey.objects.filter(answered_at__isnull=False), "answered_at")


def _churn_rows(first: dt.date, last: dt.date) -> list[ChurnDay]:
    from django.db.models import Count

    from retention.models import ChurnEvent

    rows = (
        ChurnEvent.objects.filter(date__gte=first, date__lte=last)
        .order_by()
        .values("date", "account_id", "account__owner_id", "reason")
        .annotate(n=Count("id"), lost=Sum("lost_mrr"))
    )
    return [
        ChurnDay(
            date=r["date"],
            owner_id=r["account__owner_id"],
            account_id=r["account_id"],
            reason=r["reason"],
            events=r["n"],
            lost_mrr=r["lost"] or 0,
        )  # fmt: skip
        for r in rows
    ]


def _churn_days_changed(since: dt.datetime) -> set[dt.date]:
    from retention.models import ChurnEvent

    return set(ChurnEvent.objects.filter(created_at__gte=since).values_list("date", flat=True))


def _churn_first_day() -> dt.date | None:
    from retention.models import ChurnEvent

    return ChurnEvent.objects.order_by("date").values_list("date", flat=True).first()


def _cohort_rows(today: dt.date) -> list[CohortCell]:
    from django.db.models import Count
    from django.db.models.functions import TruncMonth

    from retention.models import Subscription

    rows = (
        Subscription.objects.order_by()
        .annotate(cohort=TruncMonth("start_date"), ended=TruncMonth("ended_on"))
        .values("owner_id", "cohort", "ended")
        .annotate(n=Count("account_id", distinct=True))
    )
    return [
        CohortCell(
            owner_id=r["owner_id"],
            cohort=_as_date(r["cohort"]),
            ended=_as_date(r["ended"]),
            accounts=r["n"],
        )  # fmt: skip
        for r in rows
    ]


def multi_owner_subscribers() -> int:
    """Accounts with subscriptions of more than one owner (counted once per owner by the
    cohort cells, so the cohort figure reads the subscriptions when there are any)."""
    from django.db.models import Count

    from retention.models import Subscription

    return (
        Subscription.objects.order_by()
        .values("account_id")
        .annotate(owners=Count("owner_id", distinct=True))
        .filter(owners__gt=1)
        .count()
    )


def _health_rows(today: dt.date) -> list[HealthSummary]:
    from django.db.models import Count

    from retention.models import HealthScore

    rows = (
        HealthScore.objects.order_by()
        .values("account__owner_id", "colour")
        .annotate(n=Count("account_id"), total=Sum("score"))
    )
    return [
        HealthSummary(
            owner_id=r["account__owner_id"],
            colour=r["colour"],
            accounts=r["n"],
            score_sum=r["total"] or 0,
        )  # fmt: skip
        for r in rows
    ]


# The MRR ledger ------------------------------------------------------------------------------


def _ledger_movements(last: dt.date):
    from retention.models import MrrMovement

    return (
        MrrMovement.objects.filter(date__lte=last)
        .order_by("date", "pk")
        .values_list("date", "account_id", "subscription__owner_id", "kind", "amount")
    )


def _mrr_rows(first: dt.date, last: dt.date) -> list[MrrDay]:
    """Each day's opening balance per owner, replaying the ledger up to ``last``."""
    balance: dict = defaultdict(Decimal)  # (account, owner) → MRR so far
    total: dict = defaultdict(Decimal)  # owner → MRR so far
    paying: dict = defaultdict(int)  # owner → accounts with a positive balance
    moves = list(_ledger_movements(last).iterator(chunk_size=5000))
    rows, i, day = [], 0, first
    for date, *_ in moves:
        if date >= first:
            break
        i += 1
    for _date, account, owner, _kind, amount in moves[:i]:
        _apply(balance, total, paying, account, owner, amount)
    while day <= last:
        for owner in set(total) | set(paying):
            rows.append(
                MrrDay(
                    date=day, owner_id=owner, mrr_before=total[owner], paying_before=paying[owner]
                )  # fmt: skip
            )
        while i < len(moves) and moves[i][0] == day:
            _, account, owner, _kind, amount = moves[i]
            _apply(balance, total, paying, account, owner, amount)
            i += 1
        day += dt.timedelta(days=1)
    return rows


def _apply(balance, total, paying, account, owner, amount) -> None:
    before = balance[(account, owner)]
    after = balance[(account, owner)] = before + amount
    total[owner] += amount
    paying[owner] += (after > 0) - (before > 0)


def _mrr_move_rows(first: dt.date, last: dt.date) -> list[MrrMoveDay]:
    from django.db.models import Min

    from retention.models import MrrMovement

    first_of = MrrMovement.objects.filter(account_id=OuterRef("account_id")).order_by()
    rows = (
        MrrMovement.objects.filter(date__gte=first, date__lte=last)
        .order_by()
        .annotate(
            account_first=Subquery(
                first_of.values("account_id").annotate(d=Min("date")).values("d")[:1]
            )
        )
        .values("date", "subscription__owner_id", "kind", "account_first")
        .annotate(total=Sum("amount"))
    )
    return [
        MrrMoveDay(
            date=r["date"],
            owner_id=r["subscription__owner_id"],
            kind=r["kind"],
            account_first=r["account_first"],
            amount=r["total"],
        )  # fmt: skip
        for r in rows
    ]


def _mrr_days_changed(since: dt.datetime) -> set[dt.date]:
    """A movement changes the opening balance of every later day."""
    from retention.models import MrrMovement

    earliest = (
        MrrMovement.objects.filter(created_at__gte=since)
        .order_by("date")
        .values_list("date", flat=True)
        .first()
    )
    if earliest is None:
        return set()
    today = timezone.localdate()
    return {earliest + dt.timedelta(days=i) for i in range((today - earliest).days + 1)}


def _mrr_move_days_changed(since: dt.datetime) -> set[dt.date]:
    """The days of every movement of an account with a new movement (a backdated one can
    change when the account first paid)."""
    from retention.models import MrrMovement

    accounts = MrrMovement.objects.filter(created_at__gte=since).values("account_id")
    return set(MrrMovement.objects.filter(account_id__in=accounts).values_list("date", flat=True))


def _mrr_first_day() -> dt.date | None:
    from retention.models import MrrMovement

    return MrrMovement.objects.order_by("date").values_list("date", flat=True).first()


def multi_owner_accounts() -> int:
    """Accounts whose subscriptions have more than one owner: the per-owner opening counts
    cannot say whether such an account paid for a set of owners, so figures read the ledger
    for them when there are any."""
    from django.db.models import Count

    from retention.models import MrrMovement

    return (
        MrrMovement.objects.order_by()
        .values("account_id")
        .annotate(owners=Count("subscription__owner_id", distinct=True))
        .filter(owners__gt=1)
        .count()
    )


# Snapshots of what is open now ---------------------------------------------------------------


def _open_deals_rows(today: dt.date) -> list[OpenDeals]:
    from django.db.models import Count, DecimalField, ExpressionWrapper, Sum
    from django.db.models.functions import TruncMonth

    from sales.choices import StageKind
    from sales.models import Opportunity

    weighted = ExpressionWrapper(
        F("amount") * F("probability") / Value(100),
        output_field=DecimalField(max_digits=24, decimal_places=4),
    )
    rows = (
        Opportunity.objects.filter(status=StageKind.OPEN)
        .order_by()
        .annotate(
            expected_month=TruncMonth("expected_close_date"),
            slipped=Case(
                When(expected_close_date__lt=today, then=Value(True)), default=Value(False)
            ),
        )
        .values(
            "owner_id", "pipeline_id", "stage_id", "forecast_category", "expected_month", "slipped"
        )  # fmt: skip
        .annotate(n=Count("id"), total=Sum("amount"), total_weighted=Sum(weighted))
    )
    return [
        OpenDeals(
            owner_id=r["owner_id"],
            pipeline_id=r["pipeline_id"],
            stage_id=r["stage_id"],
            forecast_category=r["forecast_category"],
            expected_month=_as_date(r["expected_month"]),
            slipped=bool(r["slipped"]),
            deals_count=r["n"],
            amount=r["total"] or 0,
            weighted=r["total_weighted"] or 0,
        )  # fmt: skip
        for r in rows
    ]


def _as_date(value) -> dt.date | None:
    return value.date() if isinstance(value, dt.datetime) else value


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


def _value_rows(today: dt.date) -> list[ValueSummary]:
    from django.db.models import Count

    from analytics.dashboards.clv import alive_bucket, first_campaign
    from analytics.models import CustomerValue

    rows = (
        CustomerValue.objects.order_by()
        .annotate(
            owner_id=F("account__owner_id"),
            bucket=alive_bucket(),
            first_campaign=first_campaign(),
        )
        .values("owner_id", "rfm_segment", "bucket", "first_campaign")
        .annotate(
            n=Count("id"),
            historical=Sum("historical_value"),
            predicted=Sum("expected_value_12m"),
            alive=Sum("p_alive"),
        )
    )
    return [
        ValueSummary(
            owner_id=r["owner_id"],
            rfm_segment=r["rfm_segment"],
            alive_bucket=r["bucket"],
            campaign_id=r["first_campaign"],
            customers=r["n"],
            historical_value=r["historical"],
            expected_value_12m=r["predicted"],
            p_alive_sum=r["alive"],
        )  # fmt: skip
        for r in rows
    ]


SNAPSHOTS = (
    ("open_deals", OpenDeals, _open_deals_rows),
    ("open_tickets", OpenTickets, _open_tickets_rows),
    ("customer_values", ValueSummary, _value_rows),
    ("health", HealthSummary, _health_rows),
    ("cohorts", CohortCell, _cohort_rows),
)


def snapshot_refresh(name: str, *, today: dt.date | None = None) -> int:
    """Rewrite one snapshot now (the CLV summary after a fit)."""
    _, model, compute = next(s for s in SNAPSHOTS if s[0] == name)
    state, _ = RollupState.objects.get_or_create(name=name)
    started = timezone.now()
    written = _snapshot(model, compute(today or timezone.localdate()))
    fields = {"refreshed_at": started, "rebuilt_at": started}
    if name == "cohorts":
        fields["detail"] = {"multi_owner_accounts": multi_owner_subscribers()}
    RollupState.objects.filter(pk=state.pk).update(**fields)
    return written


def _snapshot(model, rows: list) -> int:
    with transaction.atomic():
        model.objects.all().delete()
        _insert(model, rows)
    return len(rows)


# The registry and the runs -------------------------------------------------------------------


@dataclass(frozen=True)
class Rollup:
    name: str
    model: type
    rows: Callable[[dt.date, dt.date], list]
    days_changed: Callable[[dt.datetime], set[dt.date]]
    first_day: Callable[[], dt.date | None]
    after: Callable[[set[dt.date]], int] | None = None  # rewrites what is derived from the days


ROLLUPS = (
    Rollup("leads", LeadDay, _lead_rows, _lead_days_changed, _lead_first_day),
    Rollup("deals", DealDay, _deal_rows, _deal_days_changed, _deal_first_day),
    Rollup("stages", StageDay, _stage_rows, _stage_days_changed, _stage_first_day),
    Rollup("support", SupportDay, _support_rows, _support_days_changed, _support_first_day),
    Rollup(
        "accounts",
        AccountTicketsDay,
        _account_rows,
        _support_days_changed,
        _support_first_day,
        after=lambda days: _busy_months(days),
    ),
    Rollup("nps", NpsDay, _nps_rows, _nps_days_changed, _nps_first_day),
    Rollup("churn", ChurnDay, _churn_rows, _churn_days_changed, _churn_first_day),
    Rollup("mrr", MrrDay, _mrr_rows, _mrr_days_changed, _mrr_first_day),
    Rollup("mrr_moves", MrrMoveDay, _mrr_move_rows, _mrr_move_days_changed, _mrr_first_day),
)


def _insert(model, rows: list) -> None:
    """``bulk_create``, or for many rows one ``COPY`` (a rebuild writes a million rows)."""
    if len(rows) < 5000:
        model.objects.bulk_create(rows, batch_size=2000)
        return
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    qn = connection.ops.quote_name
    columns = ", ".join(qn(f.column) for f in fields)
    sql = f"COPY {qn(model._meta.db_table)} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for obj in rows:
            copy.write_row([getattr(obj, f.attname) for f in fields])


def _rewrite(rollup: Rollup, days: Iterable[dt.date]) -> int:
    """Replace the rows of ``days`` with rows recomputed from the records."""
    written = 0
    for first, last in spans(days):
        rows = rollup.rows(first, last)
        with transaction.atomic():
            rollup.model.objects.filter(date__gte=first, date__lte=last).delete()
            _insert(rollup.model, rows)
        written += len(rows)
    return written


def _all_days(rollup: Rollup, today: dt.date) -> list[dt.date]:
    first = rollup.first_day()
    existing = rollup.model.objects.order_by("date").values_list("date", flat=True).first()
    starts = [d for d in (first, existing) if d is not None]
    if not starts:
        return []
    start = min(min(starts), today)
    return [start + dt.timedelta(days=i) for i in range((today - start).days + 1)]


def rollups_refresh(*, rebuild: bool = False, today: dt.date | None = None) -> dict | None:
    """Bring every rollup up to date: rewrite today, yesterday and the days of records changed
    since the previous run (every day on ``rebuild``, or when a rollup was never filled).
    Returns the rows written per rollup, or None when another run holds the job."""
    claimed_at = job_claim(ROLLUPS_JOB)
    if claimed_at is None:
        return None
    today = today or timezone.localdate()
    written = {}
    try:
        for rollup in ROLLUPS:
            state, _ = RollupState.objects.get_or_create(name=rollup.name)
            started = timezone.now()
            views = _manager_views() if rollup.model is SupportDay else None
            if views is not None and state.detail.get("managers") != views:
                rebuild_this = True  # a manager's view changed: their rows of every day
            else:
                rebuild_this = rebuild or state.refreshed_at is None
            if rebuild_this:
                days = _all_days(rollup, today)
            else:
                days = rollup.days_changed(state.refreshed_at - REFRESH_OVERLAP)
                days |= {today, today - dt.timedelta(days=1)}
                days = {d for d in days if d is not None}
            written[rollup.name] = _rewrite(rollup, days)
            if rollup.after is not None:
                rollup.after(set(days))
            fields = {"refreshed_at": started}
            if rebuild_this:
                fields["rebuilt_at"] = started
            if rollup.name == "mrr":
                fields["detail"] = {"multi_owner_accounts": multi_owner_accounts()}
            if views is not None:
                fields["detail"] = {"managers": views}
            RollupState.objects.filter(pk=state.pk).update(**fields)
        for name, _, _ in SNAPSHOTS:
            written[name] = snapshot_refresh(name, today=today)
    except BaseException:
        job_release(ROLLUPS_JOB, claimed_at, error="failed; see the worker log")
        raise
    job_release(ROLLUPS_JOB, claimed_at)
    return written


def rollups_rebuild(*, today: dt.date | None = None) -> dict | None:
    """Rewrite every day of every rollup from the records."""
    return rollups_refresh(rebuild=True, today=today)


def rollup_freshness() -> dict[str, dt.datetime | None]:
    return dict(RollupState.objects.values_list("name", "refreshed_at"))


def sum_rows(queryset, group: str | None, fields: Iterable[str]) -> dict:
    """``{group value: {field: sum}}`` of a rollup queryset (one GROUP BY in SQL)."""
    from django.db.models import Sum

    sums = {f: Sum(f) for f in fields}
    if group is None:
        return {None: queryset.order_by().aggregate(**sums)}
    out = defaultdict(dict)
    for row in queryset.order_by().values(group).annotate(**sums):
        out[row.pop(group)] = row
    return dict(out)
