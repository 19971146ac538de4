"""The retention dashboard's rollups: NPS answers (``NpsDay``) and churn (``ChurnDay``) per day,
the opening MRR of each day and the MRR moved (``MrrDay``, ``MrrMoveDay``, from the ledger),
and the snapshots of cohorts (``CohortCell``) and health (``HealthSummary``)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from decimal import Decimal

from django.db.models import OuterRef, Q, Subquery, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from analytics.models import ChurnDay, CohortCell, HealthSummary, MrrDay, MrrMoveDay, NpsDay
from analytics.rollups.base import _as_date, _in_days, days_of, first_day_of

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
