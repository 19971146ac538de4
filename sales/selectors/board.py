"""The pipeline board: a pipeline's open stages with their first cards and totals, aggregated
in SQL so the page costs the same with ten deals or ten thousand."""

from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Count, DateField, DecimalField, ExpressionWrapper, F, Q, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from crm.currencies import rated
from sales.choices import StageKind
from sales.models import Pipeline, Stage
from sales.selectors.records import opportunity_list, pipeline_list, stage_list

ZERO = Decimal("0")
MONEY_FIELD = DecimalField(max_digits=20, decimal_places=2)


def board_column_size() -> int:
    return getattr(settings, "SALES_BOARD_COLUMN_SIZE", 25)


def open_deal_date():
    """The day an open deal's amount converts at: its expected close date (the best guess of
    when its money comes in), today when it has none."""
    return Coalesce(F("expected_close_date"), Value(timezone.localdate(), output_field=DateField()))


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
    #: Deals whose currency had no rate on their expected close date: not in value or weighted.
    left_out: int = 0


def pipeline_board(*, user, pipeline: Pipeline, owner_id: int | None = None) -> list[BoardColumn]:
    """A pipeline's open stages, each with its first cards (soonest to close first) and the
    count, value and weighted value of all its visible open deals.

    One GROUP BY for the totals and one short indexed query per column, so the page costs the
    same with ten deals or ten thousand."""
    stages = list(pipeline.stages.filter(kind=StageKind.OPEN).order_by("order", "id"))
    deals = opportunity_list(user=user).filter(pipeline=pipeline, status=StageKind.OPEN)
    if owner_id:
        deals = deals.filter(owner_id=owner_id)
    rated_deals, single = rated(deals.order_by(), deal_date=open_deal_date())
    if single:
        # Every deal in the company currency (a company that sells in one): each converts at
        # 1, so the totals read only the index of open deals' amounts, not every deal's row
        # for its currency and date (a manager's board at a million deals: 160 ms of heap), and
        # the weighted total is divided once, not per deal.
        sums = {
            "value": Sum("amount"),
            "weighted": ExpressionWrapper(
                Sum(F("amount") * F("probability")) / Value(100), output_field=MONEY_FIELD
            ),
        }
    else:
        # Values in the company currency, each deal at the rate of its expected close date
        # (today when it has none).
        sums = {
            "value": Sum(ExpressionWrapper(F("amount") * F("rate"), output_field=MONEY_FIELD)),
            "weighted": Sum(
                ExpressionWrapper(
                    F("amount") * F("rate") * F("probability") / Value(100),
                    output_field=MONEY_FIELD,
                )
            ),
            "left_out": Count("pk", filter=Q(rate__isnull=True)),
        }
    totals = {
        row["stage_id"]: row
        for row in rated_deals.values("stage_id").annotate(n=Count("stage_id"), **sums)
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
                value=(row.get("value") or ZERO).quantize(Decimal("0.01")),
                left_out=row.get("left_out", 0),
                weighted=(row.get("weighted") or ZERO).quantize(Decimal("0.01")),
            )
        )
    return columns


def pipelines_active(*, user) -> models.QuerySet:
    """The pipelines a board can show (the board's pipeline picker)."""
    return pipeline_list(user=user).filter(is_active=True)


def pipeline_closing_stages(*, user, pipeline: Pipeline) -> dict[str, Stage]:
    """The won and lost stages of ``pipeline`` by kind (the board's drop targets)."""
    stages = stage_list(user=user).filter(pipeline=pipeline).exclude(kind=StageKind.OPEN)
    return {s.kind: s for s in stages.order_by("order")}
