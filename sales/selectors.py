"""Reading sales data for pages: the board, the forecast, onboarding progress. Everything here
starts from a ``visible_to(user)`` queryset and aggregates in SQL."""

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db.models import (
    Count,
    DecimalField,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, TruncMonth, TruncQuarter
from django.utils import timezone

from crm.models import Task, User
from sales.choices import ForecastCategory, OnboardingStatus, PeriodKind, StageKind
from sales.models import OnboardingPlan, Opportunity, Pipeline, Quota, Stage

ZERO = Decimal("0")
MONEY_FIELD = DecimalField(max_digits=20, decimal_places=2)


def board_column_size() -> int:
    return getattr(settings, "SALES_BOARD_COLUMN_SIZE", 25)


def weighted_sum():
    return Sum(
        ExpressionWrapper(F("amount") * F("probability") / Value(100), output_field=MONEY_FIELD)
    )


@dataclass
class BoardColumn:
    stage: Stage
    cards: list = field(default_factory=list)
    count: int = 0
    value: Decimal = ZERO
    weighted: Decimal = ZERO
    more: bool = False


def pipeline_board(*, user, pipeline: Pipeline, owner_id: int | None = None) -> list[BoardColumn]:
    """A pipeline's open stages, each with its first cards (soonest to close first) and the
    count, value and weighted value of all its visible open deals.

    One GROUP BY for the totals and one short indexed query per column, so the page costs the
    same with ten deals or ten thousand."""
    stages = list(pipeline.stages.filter(kind=StageKind.OPEN).order_by("order", "id"))
    deals = Opportunity.objects.visible_to(user).filter(pipeline=pipeline, status=StageKind.OPEN)
    if owner_id:
        deals = deals.filter(owner_id=owner_id)
    totals = {
        row["stage_id"]: row
        for row in deals.order_by()
        .values("stage_id")
        .annotate(n=Count("stage_id"), value=Sum("amount"), weighted=weighted_sum())
    }
    size = board_column_size()
    columns = []
    for stage in stages:
        cards = list(
            deals.filter(stage=stage)
            .select_related("account", "owner")
            .order_by("expected_close_date", "id")[: size + 1]
        )
        for card in cards:
            card.stage = stage  # for is_rotting, without a join
        row = totals.get(stage.pk, {})
        columns.append(
            BoardColumn(
                stage=stage,
                cards=cards[:size],
                more=len(cards) > size,
                count=row.get("n", 0),
                value=row.get("value") or ZERO,
                weighted=(row.get("weighted") or ZERO).quantize(Decimal("0.01")),
            )
        )
    return columns


# Forecast -----------------------------------------------------------------------------------


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
    """Whose numbers ``user`` may read: every rep for admins, their teams for managers, else
    themselves."""
    people = User.objects.filter(is_active=True)
    if user.is_admin_role:
        from crm.choices import Role

        return list(people.filter(groups__name=Role.SALES_REP).distinct().order_by("username"))
    if user.is_manager:
        return list(
            people.filter(pk__in=user.managed_user_ids).exclude(pk=user.pk).order_by("username")
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
    deals = Opportunity.objects.visible_to(user).filter(owner_id__in=ids).order_by()
    cells: dict[tuple[int | None, date], ForecastCell] = {}

    def cell(rep_id, period):
        return cells.setdefault((rep_id, period), ForecastCell())

    start = timezone.make_aware(timezone.datetime(year, 1, 1))
    end = timezone.make_aware(timezone.datetime(year + 1, 1, 1))
    won = (
        deals.filter(status=StageKind.WON, closed_at__gte=start, closed_at__lt=end)
        .annotate(period=trunc("closed_at"))
        .values("owner_id", "period")
        .annotate(total=Sum("amount"))
    )
    for row in won:
        cell(row["owner_id"], period_of(_as_date(row["period"]), granularity)).won += row["total"]
    open_rows = (
        deals.filter(
            status=StageKind.OPEN,
            expected_close_date__gte=date(year, 1, 1),
            expected_close_date__lt=date(year + 1, 1, 1),
        )
        .annotate(period=trunc("expected_close_date"))
        .values("owner_id", "period")
        .annotate(
            commit=Coalesce(
                Sum("amount", filter=Q(forecast_category=ForecastCategory.COMMIT)), ZERO
            ),
            best_case=Coalesce(
                Sum("amount", filter=Q(forecast_category=ForecastCategory.BEST_CASE)), ZERO
            ),
            pipeline=Coalesce(Sum("amount"), ZERO),
            weighted=Coalesce(weighted_sum(), ZERO, output_field=MONEY_FIELD),
        )
    )
    for row in open_rows:
        c = cell(row["owner_id"], period_of(_as_date(row["period"]), granularity))
        c.commit += row["commit"]
        c.best_case += row["best_case"]
        c.pipeline += row["pipeline"]
        c.weighted += Decimal(row["weighted"]).quantize(Decimal("0.01"))
    quotas = (
        Quota.objects.filter(owner_id__in=ids, period_start__year=year)
        .values("owner_id", "period_kind", "period_start")
        .annotate(total=Sum("amount"))
    )
    for row in quotas:
        if row["period_kind"] == PeriodKind.QUARTER and granularity == PeriodKind.MONTH:
            # A quarter's quota spreads evenly over its months.
            first = row["period_start"]
            for i in range(3):
                month = date(first.year, first.month + i, 1)
                cell(row["owner_id"], month).quota += (row["total"] / 3).quantize(Decimal("0.01"))
        else:
            cell(row["owner_id"], period_of(row["period_start"], granularity)).quota += row["total"]
    # The team's line: the sum over its reps, per period.
    for (rep_id, period), c in list(cells.items()):
        if rep_id is not None:
            cell(None, period).add(c)
    return Forecast(periods=periods, granularity=granularity, reps=reps, cells=cells)


# Onboarding ---------------------------------------------------------------------------------


def onboarding_plans(*, user):
    """Visible plans with their progress: items done and overdue (one subquery each)."""
    ct = ContentType.objects.get_for_model(OnboardingPlan)
    tasks = Task.objects.filter(content_type=ct, object_id=OuterRef("pk")).order_by()

    def counted(qs):
        return Coalesce(
            Subquery(
                qs.values("object_id").annotate(n=Count("id")).values("n")[:1],
                output_field=IntegerField(),
            ),
            0,
        )

    return (
        OnboardingPlan.objects.visible_to(user)
        .select_related("account", "owner", "opportunity")
        .annotate(
            items_done=counted(tasks.filter(done_at__isnull=False)),
            items_overdue=counted(tasks.filter(done_at__isnull=True, due_at__lt=timezone.now())),
        )
    )


ACTIVE = OnboardingStatus.ACTIVE
