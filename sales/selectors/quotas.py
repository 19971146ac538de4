"""Quota attainment: each quota against the deals its rep won in its period, counted in the
quota's own currency."""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import (
    Count,
    DateField,
    DateTimeField,
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
from django.db.models.expressions import RawSQL
from django.db.models.functions import Cast, Coalesce, TruncDate

from crm.currencies import (
    company_currency,
    company_currency_only,
    currency_rate_expression,
    rate_expression,
)
from sales.choices import PeriodKind, StageKind
from sales.models import Quota
from sales.selectors.records import opportunity_list, quota_list

ZERO = Decimal("0")
#: Enough places that a sum of converted amounts is rounded once, at the end, to cents.
_CONVERTED = DecimalField(max_digits=30, decimal_places=10)


@dataclass
class QuotaAttainment:
    quota: Quota
    #: Closed won in the period, in the quota's currency.
    won: Decimal
    #: Won deals not counted for want of an exchange rate on their close date.
    left_out: int

    @property
    def attainment(self) -> float | None:
        """Closed won as a share of the quota, in percent."""
        return float(self.won / self.quota.amount * 100) if self.quota.amount else None


def _period_end():
    """The day after a quota's period (first day plus a month or a quarter)."""
    return RawSQL(
        f'("{Quota._meta.db_table}"."period_start" + CASE WHEN '
        f'"{Quota._meta.db_table}"."period_kind" = %s '
        "THEN interval '3 months' ELSE interval '1 month' END)::date",
        (PeriodKind.QUARTER,),
        output_field=DateField(),
    )


ONE_DAY = dt.timedelta(days=1)


def _day_start(day):
    """A date as a point in time (its midnight in the connection's time zone)."""
    return Cast(day, DateTimeField())


def quota_attainment_list(*, user, year: int, rep_ids=None) -> list[QuotaAttainment]:
    """The quotas of ``year`` ``user`` may read (of ``rep_ids`` when given), each with the deals
    its rep won in its period, converted into the quota's currency at the rates of each deal's
    close day: ``amount × rate(deal currency) ÷ rate(quota currency)``, both rates against the
    company currency (the company currency itself at 1). A deal either currency has no rate for
    that day is counted as left out instead. One query per quota currency in use."""
    quotas = quota_list(user=user).filter(period_start__year=year)
    if rep_ids is not None:
        quotas = quotas.filter(owner_id__in=rep_ids)
    currencies = sorted(set(quotas.values_list("currency", flat=True).order_by()))
    deals = opportunity_list(user=user)
    # Every deal in the company currency: a quota in it counts each deal's amount as it is (both
    # rates 1), read from the index of won deals alone, and leaves none out.
    single = company_currency_only(deals.model)
    out: list[QuotaAttainment] = []
    for currency in currencies:
        plain = single and currency == company_currency()
        won = (
            deals.filter(status=StageKind.WON, owner_id=OuterRef("owner_id"))
            # Bounds on the close time itself, a day wider than the period, so the index of
            # won deals by owner and close time reads only the period's deals; the close day
            # (in the time zone the days are counted in) then decides exactly.
            .filter(
                closed_at__gte=_day_start(OuterRef("period_start")) - ONE_DAY,
                closed_at__lt=_day_start(OuterRef("period_end")) + ONE_DAY,
            )
            .annotate(deal_date=TruncDate("closed_at"))
            .filter(deal_date__gte=OuterRef("period_start"), deal_date__lt=OuterRef("period_end"))
            .order_by()
        )
        if plain:
            total = won.values("owner_id").annotate(total=Sum("amount")).values("total")
            left_out = Value(0)
        else:
            won = won.annotate(
                rate=rate_expression(date_field="deal_date"),
                quota_rate=currency_rate_expression(currency, date_field="deal_date"),
            ).values("owner_id")
            converted = ExpressionWrapper(
                F("amount") * F("rate") / F("quota_rate"), output_field=_CONVERTED
            )
            counted = Q(rate__isnull=False, quota_rate__isnull=False)
            total = won.annotate(total=Sum(converted, filter=counted)).values("total")
            left_out = Coalesce(
                Subquery(
                    won.annotate(n=Count("pk", filter=~counted)).values("n"),
                    output_field=IntegerField(),
                ),
                Value(0),
            )
        rows = (
            quotas.filter(currency=currency)
            .annotate(period_end=_period_end())
            .annotate(
                won=Coalesce(
                    Subquery(total, output_field=_CONVERTED), Value(ZERO), output_field=_CONVERTED
                ),
                left_out=left_out,
            )
            .select_related("owner")
        )
        out += [
            QuotaAttainment(
                quota=row,
                won=Decimal(row.won).quantize(Decimal("0.01")),
                left_out=row.left_out,
            )
            for row in rows
        ]
    out.sort(key=lambda a: (a.quota.period_start, a.quota.period_kind, str(a.quota.owner)))
    return out
