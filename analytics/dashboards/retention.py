"""Retention and churn dashboard: logos and revenue kept and lost (from the MRR movement
ledger), cohorts by start month, why customers leave, account health and NPS.

Each figure reads its rollup, or with a segment chosen the records of the segment's accounts
(the ledger, subscriptions, churn events, health scores, survey answers), through the same
final computation.

MRR is in the company currency: each movement (and churn event) converts at the rate in force on
the last day of its month, in the rollups and in the live path alike, so starting MRR plus the
movements of a range is its ending MRR; one with no rate for its month adds nothing and the
figure's note names it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from django.db import connection
from django.db.models import Count, F, Q, Sum, Value
from django.db.models.functions import Coalesce, Round, TruncMonth
from django.utils import timezone

from analytics.dashboards.base import (
    Col,
    Figure,
    Scope,
    left_out_text,
    percent,
    rates_used_text,
)
from analytics.models import (
    ChurnDay,
    CohortCell,
    HealthSummary,
    MrrDay,
    MrrMoveDay,
    NpsDay,
    RollupState,
)
from analytics.sql import MonthEnd
from crm.currencies import company_currency, rate_date_expression, rate_expression
from retention.choices import ChurnReason, HealthColour, MovementKind
from retention.models import ChurnEvent, HealthScore, MrrMovement, NpsSurvey, Subscription

ZERO = Decimal("0")
CENT = Decimal("0.01")
COHORT_MONTHS = 12


def _movements(scope: Scope):
    movements = scope.owned(MrrMovement.objects.visible_to(scope.user), "subscription__owner")
    return scope.in_segment(movements).order_by()


def at_month_end_rate(queryset, amount: str = "amount"):
    """Ledger rows (movements, churn events) with the rate in force on the last day of their
    month (``rate``: NULL when there is none) and ``converted``, the amount in the company
    currency rounded to the cent (NULL without a rate), as the rollups compute them."""
    return (
        queryset.annotate(month_end=MonthEnd("date"))
        .annotate(rate=rate_expression(date_field="month_end"))
        .annotate(converted=Round(F(amount) * F("rate"), 2))
    )


def _ledger(scope: Scope) -> dict:
    """One pass over the ledger: MRR at the start, the range's movements by kind, the same
    movements of accounts that already had a movement before the range (for GRR/NRR), and the
    accounts paying at the start and, of them, those with a churn event in the range."""
    return scope.memo("ledger", lambda: _ledger_compute(scope))


def _ledger_compute(scope: Scope) -> dict:
    return _ledger_rolled_up(scope) if _ledger_rollups_usable(scope) else _ledger_live(scope)


def _ledger_rollups_usable(scope: Scope) -> bool:
    """The MRR figures read the rollups when they are filled and say what is needed (every
    account's subscriptions have one owner; the range starts by the last rolled-up day), else
    the ledger itself."""
    return scope.memo("ledger_rollups", lambda: _rollups_usable(scope))


def _rollups_usable(scope: Scope) -> bool:
    if scope.segment is not None:
        return False
    states = {s.name: s for s in RollupState.objects.filter(name__in=("mrr", "mrr_moves", "churn"))}
    mrr = states.get("mrr")
    return (
        mrr is not None
        and mrr.refreshed_at is not None
        and getattr(states.get("mrr_moves"), "refreshed_at", None) is not None
        and getattr(states.get("churn"), "refreshed_at", None) is not None
        and not mrr.detail.get("multi_owner_accounts")
        and scope.start <= timezone.localdate(mrr.refreshed_at)
    )


def _churned_accounts(scope: Scope, rolled_up: bool = False) -> list[int]:
    if rolled_up:
        events = scope.owned(ChurnDay.objects.visible_to(scope.user))
    else:
        events = scope.owned(ChurnEvent.objects.visible_to(scope.user), "account__owner")
        events = scope.in_segment(events)
    return list(
        events.filter(date__gte=scope.start, date__lte=scope.end)
        .order_by()
        .values_list("account_id", flat=True)
        .distinct()
    )  # a few thousand accounts at most in a range


def _ledger_rolled_up(scope: Scope) -> dict:
    opening = (
        scope.owned(MrrDay.objects.visible_to(scope.user))
        .filter(date=scope.start)
        .aggregate(mrr=Sum("mrr_before"), paying=Sum("paying_before"))
    )
    moves = {
        r["kind"]: r
        for r in scope.owned(MrrMoveDay.objects.visible_to(scope.user))
        .filter(date__gte=scope.start, date__lte=scope.end)
        .order_by()
        .values("kind")
        .annotate(
            total=Sum("amount"),
            existing=Sum("amount", filter=Q(account_first__lt=scope.start)),
        )
    }
    ledger = {"start": _money(opening["mrr"])}
    for kind in MovementKind.values:
        ledger[kind] = _money(moves.get(kind, {}).get("total"))
        ledger[f"existing_{kind}"] = _money(moves.get(kind, {}).get("existing"))
    ledger["paying"] = int(opening["paying"] or 0)
    # Of the accounts churned in the range, those paying at its start (their own balances,
    # over the subscriptions the user may see).
    churned = _churned_accounts(scope, rolled_up=True)
    subscriptions = scope.owned(Subscription.objects.visible_to(scope.user)).filter(
        account_id__in=churned
    )
    ledger["churned"] = (
        MrrMovement.objects.filter(
            account_id__in=churned, subscription__in=subscriptions, date__lt=scope.start
        )
        .order_by()
        .values("account_id")
        .annotate(balance=Sum("amount"))
        .filter(balance__gt=0)
        .count()
    )
    return ledger


def _ledger_live(scope: Scope) -> dict:
    churned = _churned_accounts(scope)

    def total(condition):
        return Coalesce(Sum("converted", filter=condition), ZERO)

    before = Q(date__lt=scope.start)
    within = Q(date__gte=scope.start, date__lte=scope.end)
    kinds = MovementKind.values
    # Amounts in the company currency; whether an account pays reads the recorded amounts (a
    # sum of subscriptions' balances, none negative: positive when one is, in any currency).
    per_account = (
        at_month_end_rate(_movements(scope))
        .values("account_id")
        .annotate(
            mrr_start=total(before),
            balance_start=Coalesce(Sum("amount", filter=before), ZERO),
            **{f"mrr_{kind}": total(within & Q(kind=kind)) for kind in kinds},
        )
    )
    earlier = (
        MrrMovement.objects.filter(before).order_by().values("account_id").distinct()
    )  # any movement before the range, whoever owns the subscription
    per_account_sql, per_account_params = per_account.query.sql_with_params()
    earlier_sql, earlier_params = earlier.query.sql_with_params()
    churned_in = ", ".join(["%s"] * len(churned)) or "NULL"
    sums = ["SUM(t.mrr_start)"]
    for kind in kinds:
        sums += [
            f"SUM(t.mrr_{kind})",
            f"SUM(CASE WHEN e.account_id IS NOT NULL THEN t.mrr_{kind} ELSE 0 END)",
        ]
    sums += [
        "SUM(CASE WHEN t.balance_start > 0 THEN 1 ELSE 0 END)",
        f"SUM(CASE WHEN t.balance_start > 0 AND t.account_id IN ({churned_in}) THEN 1 ELSE 0 END)",
    ]
    sql = (
        f"SELECT {', '.join(sums)} FROM ({per_account_sql}) t "
        f"LEFT JOIN ({earlier_sql}) e ON e.account_id = t.account_id"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*churned, *per_account_params, *earlier_params])
        values = list(cursor.fetchone())
    ledger = {"start": _money(values.pop(0))}
    for kind in kinds:
        ledger[kind] = _money(values.pop(0))
        ledger[f"existing_{kind}"] = _money(values.pop(0))
    ledger["paying"], ledger["churned"] = int(values[0] or 0), int(values[1] or 0)
    return ledger


def _money(value) -> Decimal:
    if value is None:
        return ZERO
    return (value if isinstance(value, Decimal) else Decimal(str(value))).quantize(CENT)


def mrr_waterfall(scope: Scope) -> list[dict]:
    ledger = _ledger(scope)
    steps = [("Starting MRR", ledger["start"])]
    labels = dict(MovementKind.choices)
    for kind in (
        MovementKind.NEW,
        MovementKind.EXPANSION,
        MovementKind.REACTIVATION,
        MovementKind.CONTRACTION,
        MovementKind.CHURN,
    ):
        steps.append((labels[kind], ledger[kind]))
    end = sum((amount for _, amount in steps), ZERO)
    if not any(amount for _, amount in steps):
        return []
    return [{"step": name, "mrr": amount} for name, amount in steps] + [
        {"step": "Ending MRR", "mrr": end}
    ]


def retention_rates(scope: Scope) -> list[dict]:
    ledger = _ledger(scope)
    start = ledger["start"]
    lost = ledger["existing_contraction"] + ledger["existing_churn"]  # both negative
    grr = percent(start + lost, start)
    nrr = percent(start + lost + ledger["existing_expansion"], start)
    paying_at_start, churned = ledger["paying"], ledger["churned"]
    if not start and not paying_at_start:
        return []
    return [
        {"measure": "Logo churn", "value": percent(churned, paying_at_start),
         "basis": f"{churned} of {paying_at_start} paying accounts"},
        {"measure": "Gross revenue retention", "value": grr,
         "basis": f"({start:,.2f} − {-lost:,.2f}) ÷ {start:,.2f}"},
        {"measure": "Net revenue retention", "value": nrr,
         "basis": f"({start:,.2f} − {-lost:,.2f} + {ledger['existing_expansion']:,.2f}) ÷ {start:,.2f}"},
    ]  # fmt: skip


# Amounts in the company currency: the note ---------------------------------------------------


def _rate_rows(queryset, kind: str, count: str):
    """(kind, currency, rate date, rate, month, records) per rate and month: ``queryset``'s
    rows carry ``rate``, ``rate_date`` and ``month`` (a NULL rate: none known for the month)."""
    return (
        queryset.exclude(currency=company_currency())
        .annotate(figure=Value(kind))
        .values_list("figure", "currency", "rate_date", "rate", "month")
        .annotate(n=Sum(count) if count != "id" else Count("id"))
        .order_by()
    )


def _live_rates(queryset, amount: str):
    return at_month_end_rate(queryset, amount).annotate(
        rate_date=rate_date_expression(date_field="month_end"), month=TruncMonth("date")
    )


def _rates(scope: Scope) -> dict[str, tuple[set[tuple], dict[tuple[str, str], int]]]:
    """For the MRR ledger (every movement up to the range's end: the starting MRR is made of
    the earlier ones) and the range's churn events: the distinct (currency, rate date, rate)
    they were converted at, and per currency and month how many had no rate. One query, over
    the rollups or the records as the figures read them."""
    if _ledger_rollups_usable(scope):
        ledger = scope.owned(MrrMoveDay.objects.visible_to(scope.user)).annotate(
            month=TruncMonth("date")
        )
        ledger = _rate_rows(ledger.filter(date__lte=scope.end), "ledger", "movements")
    else:
        ledger = _live_rates(_movements(scope).filter(date__lte=scope.end), "amount")
        ledger = _rate_rows(ledger, "ledger", "id")
    within = {"date__gte": scope.start, "date__lte": scope.end}
    if scope.segment is None:
        churn = scope.owned(ChurnDay.objects.visible_to(scope.user)).annotate(
            month=TruncMonth("date")
        )
        churn = _rate_rows(churn.filter(**within), "churn", "events")
    else:
        churn = _rate_rows(
            _live_rates(_churn_events(scope).filter(**within), "lost_mrr"), "churn", "id"
        )
    out: dict = {"ledger": (set(), {}), "churn": (set(), {})}
    for kind, currency, rate_date, rate, month, n in ledger.union(churn, all=True):
        used, missing = out[kind]
        if rate is None:
            key = (currency, _day(month).strftime("%Y-%m"))
            missing[key] = missing.get(key, 0) + (n or 0)
        else:
            used.add((currency, rate_date, rate))
    return out


MONTH_END_RULE = "at the rate in force on the last day of its month"


def ledger_note(scope: Scope, figure: Figure) -> str:
    used, missing = scope.memo("rates", lambda: _rates(scope))["ledger"]
    return (
        f"Amounts in {company_currency()} (the company currency): each MRR movement "
        f"{MONTH_END_RULE} (one rate per currency and month, so starting MRR + the movements "
        "= ending MRR)." + rates_used_text(used) + left_out_text(missing, "movement", "the MRR")
    )


def churn_note(scope: Scope, figure: Figure) -> str:
    used, missing = scope.memo("rates", lambda: _rates(scope))["churn"]
    return (
        f"MRR lost in {company_currency()} (the company currency): each churn event "
        f"{MONTH_END_RULE}."
        + rates_used_text(used)
        + left_out_text(missing, "churn event", "the MRR lost")
    )


def _add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    return dt.date(day.year + month // 12, month % 12 + 1, 1)


def _day(value):
    return value.date() if isinstance(value, dt.datetime) else value


def cohort_retention(scope: Scope) -> list[dict]:
    last = scope.end.replace(day=1)
    first = _add_months(last, -(COHORT_MONTHS - 1))
    state = None if scope.segment else RollupState.objects.filter(name="cohorts").first()
    if state and state.refreshed_at and not state.detail.get("multi_owner_accounts"):
        cells = (
            scope.owned(CohortCell.objects.visible_to(scope.user))
            .filter(cohort__gte=first, cohort__lt=_add_months(last, 1))
            .values("cohort", "ended")
            .annotate(n=Sum("accounts"))
            .order_by()
        )
    else:  # a segment, not filled yet, or an account's subscriptions have several owners
        cells = (
            scope.in_segment(scope.owned(Subscription.objects.visible_to(scope.user)))
            .filter(start_date__gte=first, start_date__lt=_add_months(last, 1))
            .annotate(cohort=TruncMonth("start_date"), ended=TruncMonth("ended_on"))
            .values("cohort", "ended")
            .annotate(n=Count("account_id", distinct=True))
            .order_by()
        )
    cohorts: dict[dt.date, dict] = {}
    for c in cells:  # cohorts × end months, counted in SQL
        cohorts.setdefault(_day(c["cohort"]), {})[_day(c["ended"])] = c["n"]
    rows = []
    for cohort in sorted(cohorts):
        ends = cohorts[cohort]
        size = sum(ends.values())
        row = {"cohort": cohort.strftime("%Y-%m"), "size": size}
        for k in range(COHORT_MONTHS):
            month = _add_months(cohort, k)
            if month > last:
                row[f"m{k}"] = None
                continue
            # Still subscribed at the start of month k: never ended, or ended in a later month.
            gone = sum(n for ended, n in ends.items() if ended is not None and ended <= month)
            row[f"m{k}"] = percent(size - gone, size)
        rows.append(row)
    return rows


def churn_reasons(scope: Scope) -> list[dict]:
    rows = scope.owned(ChurnDay.objects.visible_to(scope.user)).values("reason")
    return _reason_rows(scope, rows.annotate(n=Sum("events"), lost=Sum("lost_mrr")))


def _churn_events(scope: Scope):
    events = scope.owned(ChurnEvent.objects.visible_to(scope.user), "account__owner")
    return scope.in_segment(events).order_by()


def churn_reasons_live(scope: Scope) -> list[dict]:
    rows = at_month_end_rate(_churn_events(scope), "lost_mrr").values("reason")
    return _reason_rows(scope, rows.annotate(n=Count("id"), lost=Coalesce(Sum("converted"), ZERO)))


def _reason_rows(scope: Scope, rows) -> list[dict]:
    labels = dict(ChurnReason.choices)
    rows = rows.filter(date__gte=scope.start, date__lte=scope.end).order_by("-n", "reason")
    return [
        {
            "reason": labels.get(r["reason"], r["reason"]),
            "events": r["n"],
            "lost": _money(r["lost"]),
        }
        for r in rows
    ]


def health_distribution(scope: Scope) -> list[dict]:
    summary = scope.owned(HealthSummary.objects.visible_to(scope.user)).order_by()
    return _health_rows(
        summary.values("colour").annotate(accounts=Sum("accounts"), scores=Sum("score_sum"))
    )


def health_distribution_live(scope: Scope) -> list[dict]:
    scores = scope.owned(HealthScore.objects.visible_to(scope.user), "account__owner")
    return _health_rows(
        scope.in_segment(scores)
        .order_by()
        .values("colour")
        .annotate(accounts=Count("account_id"), scores=Sum("score"))
    )


def _health_rows(rows) -> list[dict]:
    counts = {r["colour"]: r for r in rows}
    return [
        {
            "colour": label,
            "accounts": counts[value]["accounts"],
            "score": round(counts[value]["scores"] / counts[value]["accounts"], 1),
        }
        for value, label in HealthColour.choices
        if value in counts and counts[value]["accounts"]
    ]


def nps_by_month(scope: Scope) -> list[dict]:
    rows = (
        scope.owned(NpsDay.objects.visible_to(scope.user))
        .filter(date__gte=scope.start, date__lte=scope.end)
        .order_by()
        .annotate(month=TruncMonth("date"))
        .values("month")
        .annotate(n=Sum("answers"), n_promoters=Sum("promoters"), n_detractors=Sum("detractors"))
    )
    return _nps_rows(rows)


def nps_by_month_live(scope: Scope) -> list[dict]:
    answers = scope.owned(NpsSurvey.objects.visible_to(scope.user), "account__owner")
    rows = (
        scope.between(scope.in_segment(answers), "answered_at")
        .filter(score__isnull=False)
        .order_by()
        .annotate(month=TruncMonth("answered_at"))
        .values("month")
        .annotate(
            n=Count("id"),
            n_promoters=Count("id", filter=Q(score__gte=9)),
            n_detractors=Count("id", filter=Q(score__lte=6)),
        )
    )
    return _nps_rows(rows)


def _nps_rows(rows) -> list[dict]:
    rows = rows.filter(n__gt=0).order_by("month")
    return [
        {
            "month": r["month"].strftime("%Y-%m"),
            "answers": r["n"],
            "promoters": r["n_promoters"],
            "detractors": r["n_detractors"],
            "nps": round((r["n_promoters"] - r["n_detractors"]) * 100 / r["n"], 1),
        }
        for r in rows
    ]


FIGURES = (
    Figure(
        key="waterfall",
        rollups=("mrr", "mrr_moves", "churn"),
        title="MRR waterfall",
        how="From the MRR movement ledger: starting MRR = every movement before the range; then "
        "the range's movements by kind (churn and contraction are negative); ending = the sum.",
        note=ledger_note,
        compute=mrr_waterfall,
        live=mrr_waterfall,  # switches to the records itself with a segment
        columns=(Col("step", "Step"), Col("mrr", "MRR", "money")),
        label="step",
        series=("mrr",),
    ),
    Figure(
        key="rates",
        rollups=("mrr", "mrr_moves", "churn"),
        title="Logo churn, gross and net revenue retention",
        how="Over the accounts paying at the start of the range (positive ledger MRR): logo "
        "churn = those with a churn event in the range ÷ them; GRR = (their starting MRR + "
        "their contraction and churn) ÷ starting MRR; NRR adds their expansion. New customers "
        "of the range are left out of both.",
        note=ledger_note,
        compute=retention_rates,
        live=retention_rates,  # switches to the records itself with a segment
        columns=(
            Col("measure", "Measure"),
            Col("value", "Value", "percent"),
            Col("basis", "Basis"),
        ),
        label="measure",
        series=("value",),
    ),
    Figure(
        key="cohorts",
        rollups=("cohorts",),
        title="Cohort retention by start month",
        how=f"Accounts by the month their subscription started (the {COHORT_MONTHS} months up "
        "to the range's end): share still subscribed at the start of each later month (not "
        "ended by then).",
        compute=cohort_retention,
        live=cohort_retention,  # switches to the records itself with a segment
        columns=(
            Col("cohort", "Cohort"),
            Col("size", "Accounts", "int"),
            *(Col(f"m{k}", f"M{k}", "percent") for k in range(COHORT_MONTHS)),
        ),
        label="cohort",
        series=(),
        chart="",
        heat=True,
    ),
    Figure(
        key="churn_reasons",
        rollups=("churn",),
        title="Churn reasons",
        how="Churn events dated in the range, by the reason recorded: count and MRR lost.",
        note=churn_note,
        compute=churn_reasons,
        live=churn_reasons_live,
        columns=(
            Col("reason", "Reason"),
            Col("events", "Churn events", "int"),
            Col("lost", "MRR lost", "money"),
        ),
        label="reason",
        series=("events",),
        chart="doughnut",
    ),
    Figure(
        key="health",
        rollups=("health",),
        title="Health distribution",
        how="Accounts by the colour of their health score (as of the last refresh), with the "
        "mean score. Ignores the date range.",
        compute=health_distribution,
        live=health_distribution_live,
        columns=(
            Col("colour", "Health"),
            Col("accounts", "Accounts", "int"),
            Col("score", "Mean score", "number"),
        ),
        label="colour",
        series=("accounts",),
        chart="doughnut",
    ),
    Figure(
        key="nps",
        rollups=("nps",),
        title="NPS over time",
        how="Survey answers given in the range, per month: NPS = % promoters (9–10) − % "
        "detractors (0–6).",
        compute=nps_by_month,
        live=nps_by_month_live,
        columns=(
            Col("month", "Month"),
            Col("answers", "Answers", "int"),
            Col("promoters", "Promoters", "int"),
            Col("detractors", "Detractors", "int"),
            Col("nps", "NPS", "number"),
        ),
        label="month",
        series=("nps",),
        chart="line",
    ),
)
