"""The retention dashboard's rollups: NPS answers (``NpsDay``) and churn (``ChurnDay``) per day,
the opening MRR of each day and the MRR moved (``MrrDay``, ``MrrMoveDay``, from the ledger),
and the snapshots of cohorts (``CohortCell``) and health (``HealthSummary``).

Amounts are in the company currency: a movement (or churn event) converts at the rate in force
on the last day of its month, one rate per currency and month, so the ledger still balances
(an opening balance plus the movements after it is the later balance)."""

from __future__ import annotations

import datetime as dt

from django.db.models import Sum
from django.utils import timezone

from analytics.models import ChurnDay, CohortCell, HealthSummary, MrrDay, MrrMoveDay, NpsDay
from analytics.rollups.base import (
    _as_date,
    days_of,
    first_day_of,
    insert_select,
    local_date_sql,
    month_end_sql,
    rate_join_sql,
    rate_sql,
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
    return insert_select(sql, [start, end])


def _nps_days_changed(since: dt.datetime) -> set[dt.date]:
    from retention.models import NpsSurvey

    return days_of(NpsSurvey.objects.filter(answered_at__gte=since), "answered_at")


def _nps_first_day() -> dt.date | None:
    from retention.models import NpsSurvey

    return first_day_of(NpsSurvey.objects.filter(answered_at__isnull=False), "answered_at")


def _churn_write(first: dt.date, last: dt.date) -> int:
    """The churn events of the days, per day, account, owner, reason and currency: the MRR lost
    in the company currency at the rate in force on the last day of the event's month (as the
    MRR ledger); events with no rate keep their row with a NULL rate and add nothing."""
    from crm.models import Account
    from retention.models import ChurnEvent

    join, join_params = rate_join_sql("r", "c.currency", month_end_sql("c.date"))
    rate, rate_params = rate_sql("r", "c.currency")
    sql = f"""
        INSERT INTO {table(ChurnDay)} (date, owner_id, account_id, reason, currency, rate,
            rate_date, events, lost_mrr)
        SELECT c.date, a.owner_id, c.account_id, c.reason, c.currency, {rate}, r.valid_from,
               COUNT(*), COALESCE(SUM(ROUND(c.lost_mrr * {rate}, 2)), 0)
        FROM {table(ChurnEvent)} c LEFT JOIN {table(Account)} a ON a.id = c.account_id
        {join}
        WHERE c.date >= %s AND c.date <= %s
        GROUP BY c.date, c.account_id, a.owner_id, c.reason, c.currency, r.rate, r.valid_from
    """
    return insert_select(sql, [*rate_params, *rate_params, *join_params, first, last])


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
    """Each day's opening balance per owner: the MRR of the movements before the day, in the
    company currency (each movement at the rate in force on the last day of its month, so the
    balance at a day plus the movements after it is the balance at a later day; one with no
    rate adds nothing), and the accounts whose balance with the owner is positive (read from
    the recorded amounts: a balance is a sum of subscriptions' balances, none negative, so it
    is positive when one of them is, whatever their currencies). The ledger is summed per owner
    and day of movement (with the days an account's balance crosses zero), then each day of the
    run reads the latest running total before it."""
    from retention.models import MrrMovement, Subscription

    join, join_params = rate_join_sql("r", "m.currency", month_end_sql("m.date"))
    rate, rate_params = rate_sql("r", "m.currency")
    sql = f"""
        WITH pair_day AS (
            SELECT m.date, m.account_id, s.owner_id, SUM(m.amount) AS amount,
                   COALESCE(SUM(ROUND(m.amount * {rate}, 2)), 0) AS converted
            FROM {table(MrrMovement)} m LEFT JOIN {table(Subscription)} s
                 ON s.id = m.subscription_id
            {join}
            WHERE m.date < %s
            GROUP BY m.date, m.account_id, s.owner_id
        ), pair_run AS (
            SELECT date, owner_id, amount, converted,
                   SUM(amount) OVER (PARTITION BY account_id, owner_id ORDER BY date) AS after
            FROM pair_day
        ), owner_day AS (
            SELECT owner_id, date, SUM(converted) AS mrr,
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
    return insert_select(sql, [*rate_params, *join_params, last, first, last])


def _mrr_move_write(first: dt.date, last: dt.date) -> int:
    """The MRR moved on the days, per day, owner, kind, the day the account first paid and
    currency: how many movements, and their amount in the company currency at the rate in force
    on the last day of the movement's month (movements with no rate keep their row with a NULL
    rate and add nothing)."""
    from retention.models import MrrMovement, Subscription

    join, join_params = rate_join_sql("r", "m.currency", month_end_sql("m.date"))
    rate, rate_params = rate_sql("r", "m.currency")
    sql = f"""
        WITH firsts AS (
            SELECT account_id, MIN(date) AS first_day FROM {table(MrrMovement)}
            WHERE account_id IN (
                SELECT account_id FROM {table(MrrMovement)} WHERE date >= %s AND date <= %s
            )
            GROUP BY account_id
        )
        INSERT INTO {table(MrrMoveDay)} (date, owner_id, kind, account_first, currency, rate,
            rate_date, movements, amount)
        SELECT m.date, s.owner_id, m.kind, f.first_day, m.currency, {rate}, r.valid_from,
               COUNT(*), COALESCE(SUM(ROUND(m.amount * {rate}, 2)), 0)
        FROM {table(MrrMovement)} m
        LEFT JOIN {table(Subscription)} s ON s.id = m.subscription_id
        LEFT JOIN firsts f ON f.account_id = m.account_id
        {join}
        WHERE m.date >= %s AND m.date <= %s
        GROUP BY m.date, s.owner_id, m.kind, f.first_day, m.currency, r.rate, r.valid_from
    """
    return insert_select(sql, [first, last, *rate_params, *rate_params, *join_params, first, last])


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
