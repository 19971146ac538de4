"""The retention dashboard's rollups: NPS answers (``NpsDay``) and churn (``ChurnDay``) per day,
the opening MRR of each day and the MRR moved (``MrrDay``, ``MrrMoveDay``, from the ledger),
and the snapshots of cohorts (``CohortCell``) and health (``HealthSummary``)."""

from __future__ import annotations

import datetime as dt

from django.db.models import Sum
from django.utils import timezone

from analytics.models import ChurnDay, CohortCell, HealthSummary, MrrDay, MrrMoveDay, NpsDay
from analytics.rollups.base import (
    _as_date,
    days_of,
    first_day_of,
    local_date_sql,
    run_sql,
    table,
    window_params,
)

# NPS and health ------------------------------------------------------------------------------


def _nps_write(first: dt.date, last: dt.date) -> int:
    """The NPS answers given on the days, per day and account owner."""
    from crm.models import Account
    from retention.models import NpsSurvey

    start, end = window_params(first, last)
    sql = f"""
        INSERT INTO {table(NpsDay)} (date, owner_id, answers, promoters, detractors)
        SELECT {local_date_sql("n.answered_at")} AS day, a.owner_id, COUNT(*),
               COUNT(*) FILTER (WHERE n.score >= 9), COUNT(*) FILTER (WHERE n.score <= 6)
        FROM {table(NpsSurvey)} n LEFT JOIN {table(Account)} a ON a.id = n.account_id
        WHERE n.answered_at >= %s AND n.answered_at < %s AND n.score IS NOT NULL
        GROUP BY day, a.owner_id
    """
    return run_sql(sql, [start, end])


def _nps_days_changed(since: dt.datetime) -> set[dt.date]:
    from retention.models import NpsSurvey

    return days_of(NpsSurvey.objects.filter(answered_at__gte=since), "answered_at")


def _nps_first_day() -> dt.date | None:
    from retention.models import NpsSurvey

    return first_day_of(NpsSurvey.objects.filter(answered_at__isnull=False), "answered_at")


def _churn_write(first: dt.date, last: dt.date) -> int:
    """The churn events of the days, per day, account, owner and reason."""
    from crm.models import Account
    from retention.models import ChurnEvent

    sql = f"""
        INSERT INTO {table(ChurnDay)} (date, owner_id, account_id, reason, events, lost_mrr)
        SELECT c.date, a.owner_id, c.account_id, c.reason, COUNT(*),
               COALESCE(SUM(c.lost_mrr), 0)
        FROM {table(ChurnEvent)} c LEFT JOIN {table(Account)} a ON a.id = c.account_id
        WHERE c.date >= %s AND c.date <= %s
        GROUP BY c.date, c.account_id, a.owner_id, c.reason
    """
    return run_sql(sql, [first, last])


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


def _mrr_write(first: dt.date, last: dt.date) -> int:
    """Each day's opening balance per owner: the MRR of the movements before the day, and the
    accounts whose balance with the owner is positive. The ledger is summed per owner and day
    of movement (with the days an account's balance crosses zero), then each day of the run
    reads the latest running total before it."""
    from retention.models import MrrMovement, Subscription

    sql = f"""
        WITH pair_day AS (
            SELECT m.date, m.account_id, s.owner_id, SUM(m.amount) AS amount
            FROM {table(MrrMovement)} m LEFT JOIN {table(Subscription)} s
                 ON s.id = m.subscription_id
            WHERE m.date < %s
            GROUP BY m.date, m.account_id, s.owner_id
        ), pair_run AS (
            SELECT date, owner_id, amount,
                   SUM(amount) OVER (PARTITION BY account_id, owner_id ORDER BY date) AS after
            FROM pair_day
        ), owner_day AS (
            SELECT owner_id, date, SUM(amount) AS mrr,
                   SUM((after > 0)::int - (after - amount > 0)::int) AS paying
            FROM pair_run GROUP BY owner_id, date
        ), owner_run AS MATERIALIZED (
            SELECT owner_id, date,
                   SUM(mrr) OVER (PARTITION BY owner_id ORDER BY date) AS mrr,
                   SUM(paying) OVER (PARTITION BY owner_id ORDER BY date) AS paying
            FROM owner_day
        )
        INSERT INTO {table(MrrDay)} (date, owner_id, mrr_before, paying_before)
        SELECT d.day, o.owner_id, o.mrr, o.paying
        FROM generate_series(%s::date, %s::date, interval '1 day') AS g(at)
        CROSS JOIN LATERAL (SELECT g.at::date AS day) AS d
        CROSS JOIN LATERAL (
            SELECT DISTINCT ON (r.owner_id) r.owner_id, r.mrr, r.paying
            FROM owner_run r WHERE r.date < d.day
            ORDER BY r.owner_id, r.date DESC
        ) AS o
    """
    return run_sql(sql, [last, first, last])


def _mrr_move_write(first: dt.date, last: dt.date) -> int:
    """The MRR moved on the days, per day, owner, kind and the day the account first paid."""
    from retention.models import MrrMovement, Subscription

    sql = f"""
        WITH firsts AS (
            SELECT account_id, MIN(date) AS first_day FROM {table(MrrMovement)}
            WHERE account_id IN (
                SELECT account_id FROM {table(MrrMovement)} WHERE date >= %s AND date <= %s
            )
            GROUP BY account_id
        )
        INSERT INTO {table(MrrMoveDay)} (date, owner_id, kind, account_first, amount)
        SELECT m.date, s.owner_id, m.kind, f.first_day, SUM(m.amount)
        FROM {table(MrrMovement)} m
        LEFT JOIN {table(Subscription)} s ON s.id = m.subscription_id
        LEFT JOIN firsts f ON f.account_id = m.account_id
        WHERE m.date >= %s AND m.date <= %s
        GROUP BY m.date, s.owner_id, m.kind, f.first_day
    """
    return run_sql(sql, [first, last, first, last])


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
