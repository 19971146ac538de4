"""Fit the CLV models on the CRM's own orders and store the result for the dashboard."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

import numpy as np
from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Sum
from django.db.models.functions import Round
from django.utils import timezone

from crm.currencies import company_currency, rate_date_expression, rate_expression

from .value import CLVResult, fit_transactions


class NoOrdersTable(LookupError):
    """The sales app's Order model is not there (yet)."""


def _order_model():
    try:
        from sales.models import Order
    except ImportError as error:
        raise NoOrdersTable("no orders table yet (sales.models.Order is missing)") from error
    return Order


def _converted_orders(observation_end: dt.date):
    """The orders up to ``observation_end`` with the rate of their currency on their order date
    (``rate``: 1 in the company currency, NULL when none is known)."""
    Order = _order_model()
    return (
        Order.objects.filter(order_date__lte=observation_end)
        .order_by()
        .annotate(rate=rate_expression(date_field="order_date"))
    )


def order_transactions(*, observation_end: dt.date):
    """(account ids, dates, amounts) of the orders up to ``observation_end``, amounts in the
    company currency at the rate of each order's date (rounded to the cent, as
    ``crm.currencies.convert``); an order with no rate for its day is left out
    (``order_conversion`` names it).

    One query, grouped by account and day in SQL (the models count a day's orders as one
    purchase anyway), read straight into numpy arrays.
    """
    rows = (
        _converted_orders(observation_end)
        .filter(rate__isnull=False)
        .values_list("account_id", "order_date")
        .annotate(day_amount=Sum(Round(F("amount") * F("rate"), 2)))
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


#: Orders left out for want of a rate that a fit names (it counts them all).
LEFT_OUT_SHOWN = 20


def order_conversion(*, observation_end: dt.date) -> dict:
    """How the orders were brought to the company currency, kept with the fit for the
    dashboard's note: the distinct rates used (currency, the day the rate is valid from, rate),
    how many orders had no rate for their day, and the first of them. Two queries at most."""
    company = company_currency()
    used, missing = set(), 0
    for currency, rate_date, rate, n in (
        _converted_orders(observation_end)
        .exclude(currency=company)
        .annotate(rate_date=rate_date_expression(date_field="order_date"))
        .values_list("currency", "rate_date", "rate")
        .annotate(n=Count("id"))
    ):
        if rate is None:
            missing += n
        else:
            used.add((currency, rate_date, rate))
    left_out = []
    if missing:
        left_out = [
            {
                "account": row["account__name"],
                "currency": row["currency"],
                "amount": str(row["amount"]),
                "date": row["order_date"].isoformat(),
            }
            for row in _converted_orders(observation_end)
            .filter(rate__isnull=True)
            .order_by("order_date", "pk")
            .values("account__name", "currency", "amount", "order_date")[:LEFT_OUT_SHOWN]
        ]
    return {
        "currency": company,
        "rates": [
            [currency, day.isoformat(), f"{rate.normalize():f}"]
            for currency, day, rate in sorted(used)
        ],
        "left_out": missing,
        "left_out_orders": left_out,
    }


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

    Order values are in the company currency, each order at the rate of its order date; an
    order with no rate for its day is left out, and the fit keeps the rates used and the orders
    left out (``parameters["conversion"]``). Settings, all optional: CLV_TIME_UNIT ("weeks"),
    CLV_ANNUAL_DISCOUNT_RATE (0.10). Raises NoOrdersTable if sales has no Order model,
    ValueError if the data cannot be fitted.
    """
    from analytics.models import CLVFit, CustomerValue

    observation_end = observation_end or timezone.localdate()
    time_unit = time_unit or getattr(settings, "CLV_TIME_UNIT", "weeks")
    if annual_discount_rate is None:
        annual_discount_rate = getattr(settings, "CLV_ANNUAL_DISCOUNT_RATE", 0.10)
    currency = company_currency()
    accounts, dates, amounts = order_transactions(observation_end=observation_end)
    if accounts.size == 0:
        raise ValueError(
            f"no orders on or before {observation_end} (with an exchange rate into {currency})"
        )
    conversion = order_conversion(observation_end=observation_end)
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
        "conversion": conversion,
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
