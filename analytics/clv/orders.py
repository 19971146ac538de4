"""Fit the CLV models on the CRM's own orders and store the result for the dashboard."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone

from .value import CLVResult, fit_transactions


class NoOrdersTable(LookupError):
    """The sales app's Order model is not there (yet)."""


def _order_model():
    try:
        from sales.models import Order
    except ImportError as error:
        raise NoOrdersTable("no orders table yet (sales.models.Order is missing)") from error
    return Order


def order_transactions(*, observation_end: dt.date, currency: str):
    """(account ids, dates, amounts) of orders in ``currency`` up to ``observation_end``.

    One query, grouped by account and day in SQL (the models count a day's orders as one
    purchase anyway), read straight into numpy arrays.
    """
    Order = _order_model()
    rows = (
        Order.objects.filter(order_date__lte=observation_end, currency=currency)
        .values_list("account_id", "order_date")
        .annotate(day_amount=Sum("amount"))
        .order_by()
    )
    data = list(rows)
    if not data:
        return np.zeros(0, np.int64), np.zeros(0, "datetime64[D]"), np.zeros(0)
    accounts, dates, amounts = zip(*data, strict=True)
    return (
        np.fromiter(accounts, dtype=np.int64, count=len(data)),
        np.array(dates, dtype="datetime64[D]"),
        np.fromiter((float(a) for a in amounts), dtype=float, count=len(data)),
    )


CENT = Decimal("0.01")


def _money(value: float) -> Decimal:
    """Cents, half up; rounding to 9 places first keeps 22.345 (a float a hair below) at 22.35."""
    return Decimal(repr(round(float(value), 9))).quantize(CENT, rounding=ROUND_HALF_UP)


def fit_from_orders(
    *,
    observation_end: dt.date | None = None,
    time_unit: str | None = None,
    annual_discount_rate: float | None = None,
):
    """Fit BG/NBD and Gamma-Gamma on the orders, store a CLVFit and replace every account's
    CustomerValue with this fit's figures. Returns the CLVFit.

    Orders count in the default currency only (values in several currencies cannot be
    averaged). Settings, all optional: CLV_TIME_UNIT ("weeks"), CLV_ANNUAL_DISCOUNT_RATE (0.10).
    Raises NoOrdersTable if sales has no Order model, ValueError if the data cannot be fitted.
    """
    from analytics.models import CLVFit, CustomerValue

    observation_end = observation_end or timezone.localdate()
    time_unit = time_unit or getattr(settings, "CLV_TIME_UNIT", "weeks")
    if annual_discount_rate is None:
        annual_discount_rate = getattr(settings, "CLV_ANNUAL_DISCOUNT_RATE", 0.10)
    currency = getattr(settings, "DEFAULT_CURRENCY", "EUR")
    accounts, dates, amounts = order_transactions(
        observation_end=observation_end, currency=currency
    )
    if accounts.size == 0:
        raise ValueError(f"no orders in {currency} on or before {observation_end}")
    result: CLVResult = fit_transactions(
        accounts,
        dates,
        amounts,
        observation_end=observation_end,
        time_unit=time_unit,
        annual_discount_rate=annual_discount_rate,
    )
    summary, forecast, segments = result.summary, result.forecast, result.segments
    parameters = {
        **result.parameters(),
        "log_likelihood": {
            "bgnbd": result.bgnbd.log_likelihood,
            "gamma_gamma": result.gamma_gamma.log_likelihood,
        },
        "repeat_customers": result.gamma_gamma.customers,
        "annual_discount_rate": annual_discount_rate,
        "months": result.months,
    }
    with transaction.atomic():
        fit = CLVFit.objects.create(
            observation_end=observation_end,
            time_unit=time_unit,
            customers=len(summary),
            currency=currency,
            parameters=parameters,
        )
        scores = segments.score
        first = summary.first_purchase.astype(dt.date)
        values = [
            CustomerValue(
                fit=fit,
                account_id=int(summary.customer[i]),
                first_purchase=first[i],
                frequency=int(summary.frequency[i]),
                recency=float(summary.recency[i]),
                T=float(summary.T[i]),
                monetary=_money(summary.monetary[i]),
                historical_value=_money(summary.total[i]),
                p_alive=float(forecast.p_alive[i]),
                expected_purchases_12m=float(forecast.expected_purchases[i]),
                expected_value_12m=_money(forecast.expected_value[i]),
                currency=currency,
                rfm_score=str(scores[i]),
                rfm_segment=str(segments.segment[i]),
            )
            for i in range(len(summary))
        ]
        # Nothing references CustomerValue, so this is one DELETE statement.
        CustomerValue.objects.all().delete()
        CustomerValue.objects.bulk_create(values, batch_size=2000)
    return fit
