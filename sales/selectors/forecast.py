"""The sales forecast: closed won, commit, best case, pipeline and weighted pipeline per rep and
period, against quota."""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.db.models import ExpressionWrapper, F, Q, Sum, Value
from django.db.models.functions import Coalesce, TruncDate, TruncMonth, TruncQuarter
from django.utils import timezone

from crm.choices import Role
from crm.currencies import (
    company_currency,
    currencies_in_use,
    rate_date_expression,
    rated,
)
from crm.models import ExchangeRate, User
from sales.choices import ForecastCategory, PeriodKind, StageKind
from sales.selectors.board import MONEY_FIELD, ZERO
from sales.selectors.records import opportunity_list, quota_list


@dataclass
class ForecastCell:
    won: Decimal = ZERO
    commit: Decimal = ZERO
    best_case: Decimal = ZERO
    pipeline: Decimal = ZERO
    weighted: Decimal = ZERO
    quota: Decimal = ZERO

    @property
    def attainment(self) -> float | None:
        """Closed won as a share of quota, in percent."""
        return float(self.won / self.quota * 100) if self.quota else None

    @property
    def fmt(self) -> dict[str, str]:
        """Whole-unit figures with thousands separators (formatting in Python keeps a page of
        hundreds of cells fast; the template's intcomma is slow)."""
        return {
            name: f"{getattr(self, name):,.0f}"
            for name in ("won", "commit", "best_case", "pipeline", "weighted", "quota")
        }

    def add(self, other: "ForecastCell") -> None:
        for name in ("won", "commit", "best_case", "pipeline", "weighted", "quota"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


@dataclass
class Forecast:
    periods: list[date]
    granularity: str
    reps: list[User]
    # (rep id, period start) → cell; rep id None is the team's total
    cells: dict[tuple[int | None, date], ForecastCell]
    #: The currency every figure is in; deals in others are converted at dated rates.
    currency: str = ""
    #: {"currency", "rate_date", "rate"} of each rate a converted figure used.
    rates_used: list[dict] = field(default_factory=list)
    #: Deals of the period whose currency had no rate on their date: not in any figure.
    left_out: list[dict] = field(default_factory=list)
    left_out_count: int = 0
    #: Quotas in another currency with no rate on their period's first day: not in the grid.
    quotas_left_out: list[dict] = field(default_factory=list)

    def cell(self, rep_id, period) -> ForecastCell:
        return self.cells.get((rep_id, period)) or ForecastCell()

    def rows(self):
        """(rep or None for the total, [cells by period], total cell) for the template."""
        out = []
        for rep in [*self.reps, None]:
            key = rep.pk if rep else None
            cells = [self.cell(key, p) for p in self.periods]
            total = ForecastCell()
            for c in cells:
                total.add(c)
            out.append((rep, list(zip(self.labels(), cells, strict=True)), total))
        return out

    def labels(self) -> list[str]:
        if self.granularity == PeriodKind.QUARTER:
            return [f"Q{(p.month - 1) // 3 + 1}" for p in self.periods]
        return [p.strftime("%b") for p in self.periods]


def period_starts(year: int, granularity: str) -> list[date]:
    step = 3 if granularity == PeriodKind.QUARTER else 1
    return [date(year, month, 1) for month in range(1, 13, step)]


def period_of(day: date, granularity: str) -> date:
    if granularity == PeriodKind.QUARTER:
        return date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    return date(day.year, day.month, 1)


def _as_date(value) -> date:
    if hasattr(value, "date") and callable(value.date):
        value = timezone.localtime(value).date() if timezone.is_aware(value) else value.date()
    return value


def forecast_reps(user) -> list[User]:
    """Whose numbers ``user`` may read: every sales rep for admins, the sales reps of their
    teams for managers (a team's support agents sell nothing), else themselves."""
    reps = User.objects.filter(is_active=True, groups__name=Role.SALES_REP).distinct()
    if user.is_admin_role:
        return list(reps.order_by("username"))
    if user.is_manager:
        return list(
            reps.filter(pk__in=user.managed_user_ids).exclude(pk=user.pk).order_by("username")
        )
    return [user]


def sales_forecast(
    *, user, year: int, granularity: str = PeriodKind.MONTH, rep_ids: list[int] | None = None
) -> Forecast:
    """Closed won, commit, best case, pipeline and probability-weighted pipeline per rep and
    period of ``year``, against quota. Three GROUP BY queries whatever the number of deals."""
    reps = forecast_reps(user)
    if rep_ids:
        reps = [r for r in reps if r.pk in set(rep_ids)] or reps
    ids = [r.pk for r in reps]
    periods = period_starts(year, granularity)
    trunc = TruncQuarter if granularity == PeriodKind.QUARTER else TruncMonth
    deals = opportunity_list(user=user).filter(owner_id__in=ids).order_by()
    cells: dict[tuple[int | None, date], ForecastCell] = {}

    def cell(rep_id, period):
        return cells.setdefault((rep_id, period), ForecastCell())

    start = timezone.make_aware(timezone.datetime(year, 1, 1))
    end = timezone.make_aware(timezone.datetime(year + 1, 1, 1))
    # Each amount converts into the company currency at the rate of its deal's date: the day a
    # won deal closed, the expected close date of an open one (the best guess of when its money
    # comes in). A deal whose currency has no rate that day is left out and listed.
    others = [c for c in currencies_in_use(deals.model) if c != company_currency()]

    # Every deal in the company currency: each converts at 1, and the totals read the
    # forecast's indexes of won and open deals alone, not every deal's row.
    won_deals, _ = rated(
        deals.filter(status=StageKind.WON, closed_at__gte=start, closed_at__lt=end),
        deal_date=TruncDate("closed_at"),
        single=not others,
    )
    open_deals, _ = rated(
        deals.filter(
            status=StageKind.OPEN,
            expected_close_date__gte=date(year, 1, 1),
            expected_close_date__lt=date(year + 1, 1, 1),
        ),
        deal_date=F("expected_close_date"),
        single=not others,
    )
    converted = ExpressionWrapper(F("amount") * F("rate"), output_field=MONEY_FIELD)
    weighted = ExpressionWrapper(
        F("amount") * F("rate") * F("probability") / Value(100), output_field=MONEY_FIELD
    )
    won = (
        won_deals.filter(rate__isnull=False)
        .annotate(period=trunc("closed_at"))
        .values("owner_id", "period")
        .annotate(total=Sum(converted))
    )
    for row in won:
        cell(row["owner_id"], period_of(_as_date(row["period"]), granularity)).won += _cents(
            row["total"]
        )
    open_rows = (
        open_deals.filter(rate__isnull=False)
        .annotate(period=trunc("expected_close_date"))
        .values("owner_id", "period")
        .annotate(
            commit=Coalesce(
                Sum(converted, filter=Q(forecast_category=ForecastCategory.COMMIT)), ZERO
            ),
            best_case=Coalesce(
                Sum(converted, filter=Q(forecast_category=ForecastCategory.BEST_CASE)), ZERO
            ),
            pipeline=Coalesce(Sum(converted), ZERO),
            weighted=Coalesce(Sum(weighted), ZERO, output_field=MONEY_FIELD),
        )
    )
    for row in open_rows:
        c = cell(row["owner_id"], period_of(_as_date(row["period"]), granularity))
        c.commit += _cents(row["commit"])
        c.best_case += _cents(row["best_case"])
        c.pipeline += _cents(row["pipeline"])
        c.weighted += _cents(row["weighted"])
    quotas, quotas_left_out = _quotas(user=user, ids=ids, year=year, by=granularity)
    for (rep_id, period), amount in quotas:
        cell(rep_id, period).quota += amount
    # The team's line: the sum over its reps, per period.
    for (rep_id, period), c in list(cells.items()):
        if rep_id is not None:
            cell(None, period).add(c)
    rates_used, left_out, left_out_count = _conversion_notes(others, won_deals, open_deals)
    return Forecast(
        periods=periods,
        granularity=granularity,
        reps=reps,
        cells=cells,
        currency=company_currency(),
        rates_used=rates_used,
        left_out=left_out,
        left_out_count=left_out_count,
        quotas_left_out=quotas_left_out,
    )


#: Deals listed by name as left out of the figures (the count says how many in all).
LEFT_OUT_SHOWN = 20


def _cents(value) -> Decimal:
    return Decimal(value or 0).quantize(Decimal("0.01"))


def _conversion_notes(others: list[str], *querysets):
    """For the "how computed" note: the distinct rates the figures used, and the deals left out
    for want of a rate (the first few, with how many in all). A fixed number of queries, over
    the deals in ``others``, the currencies in use but the company's (by the index of
    currencies): the company currency converts at 1, and a year's deals are most of a big
    table."""
    used: set[tuple] = set()
    left_out: list[dict] = []
    count = 0
    if not others:
        return [], [], 0
    for qs in querysets:
        qs = qs.filter(currency__in=others)
        used.update(
            qs.filter(rate__isnull=False)
            .annotate(rate_date=rate_date_expression(date_field="deal_date"))
            .values_list("currency", "rate_date", "rate")
            .distinct()
        )
        missing = qs.filter(rate__isnull=True)
        count += missing.count()
        left_out += list(
            missing.order_by("deal_date", "pk").values(
                "pk", "name", "currency", "amount", "deal_date"
            )[:LEFT_OUT_SHOWN]
        )
    rates = [{"currency": c, "rate_date": d, "rate": r.normalize()} for c, d, r in sorted(used)]
    return rates, left_out[:LEFT_OUT_SHOWN], count


def _rates_on_first_days(wanted: set[tuple[str, date]]) -> dict[tuple[str, date], Decimal]:
    """The rate of each (currency, day) in ``wanted``, where one is known, in one query."""
    if not wanted:
        return {}
    latest_day = max(day for _, day in wanted)
    known: dict[str, list] = {}
    for currency, valid_from, rate in (
        ExchangeRate.objects.filter(currency__in={c for c, _ in wanted}, valid_from__lte=latest_day)
        .order_by("currency", "-valid_from")
        .values_list("currency", "valid_from", "rate")
    ):
        known.setdefault(currency, []).append((valid_from, rate))
    out = {}
    for currency, day in wanted:
        for valid_from, rate in known.get(currency, []):
            if valid_from <= day:
                out[(currency, day)] = rate
                break
    return out


def _quotas(*, user, ids, year: int, by: str):
    """(rep id, period start) → quota for each period of ``year`` in the ``by`` granularity, in
    the company currency (a quota in another converts at the rate of its period's first day),
    and the quotas left out for want of that rate.

    A rep may have monthly quotas, quarterly ones, or both; the two kinds state one target
    twice, never two targets to add up. A period reads its own kind first: a month its monthly
    quota, else a third of its quarter's; a quarter its quarterly quota, else the sum of its
    months' quotas."""
    monthly: dict[tuple[int, date], Decimal] = {}
    quarterly: dict[tuple[int, date], Decimal] = {}
    rows = (
        quota_list(user=user)
        .filter(owner_id__in=ids, period_start__year=year)
        .values_list("owner_id", "period_kind", "period_start", "amount", "currency")
        .order_by()
    )
    rows = list(rows)
    company = company_currency()
    rate_of = _rates_on_first_days(
        {(currency, start) for _, _, start, _, currency in rows if currency != company}
    )
    left_out: list[dict] = []
    for owner_id, kind, start, amount, currency in rows:
        if currency != company:
            rate = rate_of.get((currency, start))
            if rate is None:
                left_out.append({"owner_id": owner_id, "period_start": start, "currency": currency})
                continue
            amount = _cents(amount * rate)
        if kind == PeriodKind.QUARTER:
            quarterly[(owner_id, period_of(start, PeriodKind.QUARTER))] = amount
        else:
            monthly[(owner_id, period_of(start, PeriodKind.MONTH))] = amount
    out: dict[tuple[int, date], Decimal] = {}
    if by == PeriodKind.QUARTER:
        out.update(quarterly)
        for (owner_id, month), amount in monthly.items():
            key = (owner_id, period_of(month, PeriodKind.QUARTER))
            if key not in quarterly:
                out[key] = out.get(key, ZERO) + amount
        return out.items(), left_out
    out.update(monthly)
    for (owner_id, first), amount in quarterly.items():
        for i in range(3):
            key = (owner_id, date(first.year, first.month + i, 1))
            if key not in monthly:
                out[key] = (amount / 3).quantize(Decimal("0.01"))
    return out.items(), left_out
