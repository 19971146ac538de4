"""Health scores, computed nightly for every account at once.

Set-based by design (100,000 accounts in well under two minutes on PostgreSQL): each component is
one GROUP BY query into a dict keyed by account, the score is arithmetic in memory, and current
scores and the day's history are written with batched ``INSERT … ON CONFLICT DO UPDATE``. No query
runs per account.
"""

import datetime as dt
import json
import logging
import time

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.db.models import Count, F, IntegerField, Max, Min, OuterRef, Q, Subquery, Sum, Window
from django.db.models.functions import RowNumber
from django.utils import timezone

from crm.automation.engine import records_changed
from crm.models import Account, Activity, Contact
from retention.choices import HealthColour, HealthComponentKey, SubscriptionStatus
from retention.models import (
    HealthComponent,
    HealthScore,
    HealthScoreHistory,
    NpsSurvey,
    RiskEpisode,
    Subscription,
    UsageDaily,
)

logger = logging.getLogger(__name__)

BATCH = 5000
#: Rows per INSERT … SELECT FROM unnest(…) on PostgreSQL.
PG_CHUNK = 25_000

#: Default weights, used when an admin has not configured components (and by the migration).
DEFAULT_WEIGHTS = {
    HealthComponentKey.USAGE_TREND: 30,
    HealthComponentKey.SUPPORT_LOAD: 20,
    HealthComponentKey.SENTIMENT: 20,
    HealthComponentKey.ENGAGEMENT: 20,
    HealthComponentKey.RENEWAL_PROXIMITY: 10,
}


def green_from() -> int:
    return int(getattr(settings, "HEALTH_GREEN_FROM", 70))


def red_below() -> int:
    return int(getattr(settings, "HEALTH_RED_BELOW", 40))


#: How many days older than 30 the score a trend compares with may be.
TREND_TOLERANCE_DAYS = 7


def falling_by() -> int:
    """A score this many points below its value 30 days ago counts as falling."""
    return int(getattr(settings, "HEALTH_FALLING_BY", 15))


def colour_for(score: int) -> str:
    if score >= green_from():
        return HealthColour.GREEN
    if score < red_below():
        return HealthColour.RED
    return HealthColour.YELLOW


def weights() -> dict[str, int]:
    rows = list(HealthComponent.objects.values_list("key", "weight", "is_active"))
    if not rows:
        return dict(DEFAULT_WEIGHTS)
    return {key: weight for key, weight, active in rows if active and weight > 0}


def _clamp(value: float) -> int:
    return max(0, min(100, round(value)))


# Components: one GROUP BY each -----------------------------------------------------------------


def _day_after(day: dt.date) -> dt.datetime:
    """The first moment after ``day``: components read what was known by its end."""
    return timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min))


def usage_component(today: dt.date) -> dict[int, int]:
    """Last 30 days' usage against the 30 before: level usage scores 60, doubling 100, halving
    35, stopping 0. Accounts without any usage in 60 days have no value (not applicable)."""
    recent_from = today - dt.timedelta(days=30)
    rows = (
        UsageDaily.objects.filter(day__gt=today - dt.timedelta(days=60), day__lte=today)
        .values("account_id")
        .annotate(
            recent=Sum("events", filter=Q(day__gt=recent_from)),
            prior=Sum("events", filter=Q(day__lte=recent_from)),
        )
        .order_by()
        .values_list("account_id", "recent", "prior")
    )
    result = {}
    for account_id, recent, prior in rows:
        recent, prior = recent or 0, prior or 0
        if not prior:
            result[account_id] = 80 if recent else 0
        else:
            ratio = recent / prior
            result[account_id] = _clamp(60 + 40 * (ratio - 1)) if ratio >= 1 else _clamp(60 * ratio)
    return result


def support_component(today: dt.date) -> dict[int, int]:
    """Open tickets and SLA breaches of the last 90 days: each open ticket costs 10 points,
    each breach 20. Accounts without tickets score 100 (they are not in the dict)."""
    try:
        from support.choices import ACTIVE_STATUSES
        from support.models import Ticket
    except ImportError:  # the support stage is optional
        return {}
    since = timezone.make_aware(dt.datetime.combine(today - dt.timedelta(days=90), dt.time.min))
    breached = Q(first_response_breached=True) | Q(resolution_breached=True)
    rows = (
        Ticket.objects.filter(account__isnull=False, created_at__lt=_day_after(today))
        .filter(Q(status__in=ACTIVE_STATUSES) | (Q(created_at__gte=since) & breached))
        .values("account_id")
        .annotate(
            open=Count("id", filter=Q(status__in=ACTIVE_STATUSES)),
            breaches=Count("id", filter=Q(created_at__gte=since) & breached),
        )
        .order_by()
        .values_list("account_id", "open", "breaches")
    )
    return {a: _clamp(100 - 10 * o - 20 * b) for a, o, b in rows}


def _latest_per_account(queryset, account_field: str, order_field: str, value_field: str):
    """(account id, value) of each account's newest row: a window function, one query."""
    ranked = queryset.annotate(
        rank=Window(RowNumber(), partition_by=[F(account_field)], order_by=F(order_field).desc())
    )
    return list(ranked.filter(rank=1).values_list(account_field, value_field))


def sentiment_component(today: dt.date) -> dict[int, int]:
    """The latest NPS answer (0–10 → 0–100) and latest CSAT rating (1–5 → 0–100) of the last
    year, averaged where both exist."""
    since = timezone.make_aware(dt.datetime.combine(today - dt.timedelta(days=365), dt.time.min))
    values: dict[int, list[int]] = {}
    try:
        from support.models import CsatSurvey
    except ImportError:
        CsatSurvey = None
    if CsatSurvey is not None:
        csat = CsatSurvey.objects.filter(
            rating__isnull=False,
            answered_at__gte=since,
            answered_at__lt=_day_after(today),
            ticket__account__isnull=False,
        )
        for account_id, rating in _latest_per_account(
            csat, "ticket__account_id", "answered_at", "rating"
        ):
            values.setdefault(account_id, []).append(_clamp((rating - 1) * 25))
    for account_id, score in nps_latest(since, until=_day_after(today)):
        values.setdefault(account_id, []).append(_clamp(score * 10))
    return {a: _clamp(sum(v) / len(v)) for a, v in values.items()}


def nps_latest(since, until=None) -> list[tuple[int, int]]:
    """(account id, latest NPS score) pairs of the surveys answered since ``since`` (and
    before ``until`` when given)."""
    answered = NpsSurvey.objects.filter(score__isnull=False, answered_at__gte=since)
    if until is not None:
        answered = answered.filter(answered_at__lt=until)
    return _latest_per_account(answered, "account_id", "answered_at", "score")


def engagement_component(today: dt.date) -> dict[int, int]:
    """Days since the last call, email, meeting or note with the account or its people: today
    scores 100, losing about 1.7 points a day to 0 at 60 days. No activity in a year: 0."""
    since = timezone.make_aware(dt.datetime.combine(today - dt.timedelta(days=365), dt.time.min))
    last: dict[int, dt.datetime] = dict(
        Activity.objects.filter(
            content_type=ContentType.objects.get_for_model(Account),
            occurred_at__gte=since,
            occurred_at__lt=_day_after(today),
        )
        .values("object_id")
        .annotate(last=Max("occurred_at"))
        .order_by()
        .values_list("object_id", "last")
    )
    by_contacts = (
        Contact.objects.filter(
            account__isnull=False,
            activities__occurred_at__gte=since,
            activities__occurred_at__lt=_day_after(today),
        )
        .values("account_id")
        .annotate(last=Max("activities__occurred_at"))
        .order_by()
        .values_list("account_id", "last")
    )
    for account_id, when in by_contacts:
        if account_id not in last or when > last[account_id]:
            last[account_id] = when
    result = {}
    for account_id, when in last.items():
        days = max(0, (today - timezone.localdate(when)).days)
        result[account_id] = _clamp(100 - days * 100 / 60)
    return result


def renewal_component(today: dt.date) -> dict[int, int]:
    """The nearest renewal of a paying subscription: 180 days or more away scores 100, falling
    to 0 on the day. Accounts without a subscription have no value."""
    rows = (
        Subscription.objects.filter(
            status__in=(SubscriptionStatus.ACTIVE, SubscriptionStatus.CANCELLED)
        )
        .values("account_id")
        .annotate(nearest=Min("renewal_date"))
        .order_by()
        .values_list("account_id", "nearest")
    )
    return {a: _clamp((nearest - today).days * 100 / 180) for a, nearest in rows}


COMPONENTS = {
    HealthComponentKey.USAGE_TREND: usage_component,
    HealthComponentKey.SUPPORT_LOAD: support_component,
    HealthComponentKey.SENTIMENT: sentiment_component,
    HealthComponentKey.ENGAGEMENT: engagement_component,
    HealthComponentKey.RENEWAL_PROXIMITY: renewal_component,
}
#: Value of a component for an account missing from its dict (None: not applicable).
MISSING = {
    HealthComponentKey.USAGE_TREND: None,
    HealthComponentKey.SUPPORT_LOAD: 100,
    HealthComponentKey.SENTIMENT: None,
    HealthComponentKey.ENGAGEMENT: 0,
    HealthComponentKey.RENEWAL_PROXIMITY: None,
}


def score_from(values: dict[str, int | None], weight_by_key: dict[str, int]) -> int:
    """The weighted mean of the components that apply (weights renormalised over them)."""
    total = weight = 0
    for key, w in weight_by_key.items():
        value = values.get(key)
        if value is not None:
            total += w * value
            weight += w
    return _clamp(total / weight) if weight else 50


def health_recompute(*, today: dt.date | None = None) -> dict:
    """Recompute every account's health score and record today's history (idempotent per day:
    a rerun overwrites today's row). Then opens and closes risk episodes. Returns timings."""
    today = today or timezone.localdate()
    started = time.monotonic()
    timings = {}
    rows = _scores(today, timings)
    t = time.monotonic()
    with transaction.atomic():
        _write_scores(rows, today)
        # The scores are written set-based (no model saves): rules on health re-check them all.
        records_changed("account")
    timings["write"] = round(time.monotonic() - t, 2)
    t = time.monotonic()
    opened, closed = risk_episodes_refresh()
    timings["risk"] = round(time.monotonic() - t, 2)
    timings["total"] = round(time.monotonic() - started, 2)
    result = {"accounts": len(rows), "opened": opened, "closed": closed, "timings": timings}
    logger.info("Health recompute: %s", result)
    return result


def _scores(today: dt.date, timings: dict) -> list[tuple]:
    """(account id, score, colour, components, trend) of every account as of ``today``; the
    trend against the recorded score 30 days before, when there is one."""
    weight_by_key = weights()
    component_values = {}
    for key in weight_by_key:
        t = time.monotonic()
        component_values[key] = COMPONENTS[key](today)
        timings[key] = round(time.monotonic() - t, 2)
    # The score of about a month ago: recorded 30 days before, or the latest in the week
    # before that, so a night the job did not run does not blank the next month's trends.
    month_ago = dict(
        HealthScoreHistory.objects.filter(
            day__lte=today - dt.timedelta(days=30),
            day__gt=today - dt.timedelta(days=30 + TREND_TOLERANCE_DAYS),
        )
        .order_by("account_id", "-day")
        .distinct("account_id")
        .values_list("account_id", "score")
    )
    t = time.monotonic()
    rows = []
    account_ids = Account.objects.order_by("pk").values_list("pk", flat=True)
    for account_id in account_ids.iterator(chunk_size=10_000):
        values = {key: component_values[key].get(account_id, MISSING[key]) for key in weight_by_key}
        score = score_from(values, weight_by_key)
        before = month_ago.get(account_id)
        components = {
            key: {"value": value, "weight": weight_by_key[key]} for key, value in values.items()
        }
        trend = None if before is None else score - before
        rows.append((account_id, score, colour_for(score), components, trend))
    timings["score"] = round(time.monotonic() - t, 2)
    return rows


@transaction.atomic
def health_history_record(*, day: dt.date) -> int:
    """Record every account's score as it stood on a past ``day`` (from the usage, tickets,
    answers and activities dated up to then) in the history only: current scores and risk
    episodes stay as they are. Loading data that carries its own past (an import, the demo)
    gives the next recompute a trend to compare with. Returns the number of accounts."""
    rows = _scores(day, {})
    _write_history(rows, day)
    return len(rows)


def _write_history(rows: list[tuple], day: dt.date) -> None:
    history_table = HealthScoreHistory._meta.db_table
    with connection.cursor() as cursor:
        for i in range(0, len(rows), PG_CHUNK):
            chunk = rows[i : i + PG_CHUNK]
            cursor.execute(
                f"""
                INSERT INTO {history_table} (account_id, day, score, colour)
                SELECT a, %s, s, c FROM unnest(%s::bigint[], %s::smallint[], %s::text[]) AS t(a, s, c)
                ON CONFLICT (account_id, day) DO UPDATE SET
                    score = EXCLUDED.score, colour = EXCLUDED.colour
                """,
                [day, [r[0] for r in chunk], [r[1] for r in chunk], [r[2] for r in chunk]],
            )


def _write_scores(rows: list[tuple], today: dt.date) -> None:
    """Upsert current scores and today's history: one ``INSERT … SELECT FROM unnest(arrays)
    ON CONFLICT DO UPDATE`` per table and chunk."""
    score_table = HealthScore._meta.db_table
    history_table = HealthScoreHistory._meta.db_table
    with connection.cursor() as cursor:
        for i in range(0, len(rows), PG_CHUNK):
            chunk = rows[i : i + PG_CHUNK]
            ids = [r[0] for r in chunk]
            scores = [r[1] for r in chunk]
            colours = [r[2] for r in chunk]
            cursor.execute(
                f"""
                INSERT INTO {score_table} (account_id, score, colour, components, trend, computed_on)
                SELECT a, s, c, comp::jsonb, tr, %s
                FROM unnest(%s::bigint[], %s::smallint[], %s::text[], %s::text[], %s::smallint[])
                    AS t(a, s, c, comp, tr)
                ON CONFLICT (account_id) DO UPDATE SET
                    score = EXCLUDED.score, colour = EXCLUDED.colour,
                    components = EXCLUDED.components, trend = EXCLUDED.trend,
                    computed_on = EXCLUDED.computed_on
                """,
                [
                    today,
                    ids,
                    scores,
                    colours,
                    [json.dumps(r[3]) for r in chunk],
                    [r[4] for r in chunk],
                ],
            )
            cursor.execute(
                f"""
                INSERT INTO {history_table} (account_id, day, score, colour)
                SELECT a, %s, s, c FROM unnest(%s::bigint[], %s::smallint[], %s::text[]) AS t(a, s, c)
                ON CONFLICT (account_id, day) DO UPDATE SET
                    score = EXCLUDED.score, colour = EXCLUDED.colour
                """,
                [today, ids, scores, colours],
            )


# Risk episodes ---------------------------------------------------------------------------------


def at_risk_condition() -> Q:
    return Q(colour=HealthColour.RED) | Q(trend__lte=-falling_by())


@transaction.atomic
def risk_episodes_refresh() -> tuple[int, int]:
    """Open an episode for each account that turned at risk (red, or falling) and close the open
    episodes of accounts that recovered; set-based, and idempotent (one open episode per
    account is a unique constraint)."""
    now = timezone.now()
    at_risk = HealthScore.objects.filter(at_risk_condition())
    open_episodes = RiskEpisode.objects.filter(closed_at__isnull=True)
    recovered = open_episodes.exclude(account_id__in=at_risk.values("account_id"))
    closed = recovered.update(
        closed_at=now,
        closed_score=Subquery(
            HealthScore.objects.filter(account_id=OuterRef("account_id")).values("score")[:1],
            output_field=IntegerField(),
        ),
    )
    new = (
        at_risk.exclude(account_id__in=open_episodes.values("account_id"))
        .values_list("account_id", "colour", "score")
        .order_by("account_id")
    )
    episodes = [
        RiskEpisode(
            account_id=account_id,
            reason="red" if colour == HealthColour.RED else "falling",
            opened_at=now,
            opened_score=score,
        )
        for account_id, colour, score in new.iterator(chunk_size=10_000)
    ]
    RiskEpisode.objects.bulk_create(episodes, batch_size=BATCH, ignore_conflicts=True)
    return len(episodes), closed
