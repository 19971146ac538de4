"""Customer lifetime value over a horizon, and the whole fit from a transaction log.

CLV here is the expected, discounted value of a customer's purchases over the next ``months``
months, in the discrete approximation the lifetimes package uses:

    CLV = sum over m = 1..months of
          (E[Y(m L) | x, t_x, T] - E[Y((m-1) L) | x, t_x, T])   expected purchases in month m
          * E[Z | x, zbar]                                      expected spend per purchase
          / (1 + d)^m                                           discounted to today

with L the length of a month in the model's time unit (365.25 / 12 days) and d the monthly
discount rate equivalent to the annual one, (1 + annual)^(1/12) - 1. Purchases within a month
are discounted as if they happened at its end (slightly conservative).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from . import bgnbd, gamma_gamma
from .rfm import DAYS_PER_UNIT, RFMSegments, RFMSummary, segments, summarize

DAYS_PER_MONTH = 365.25 / 12


def monthly_discount_rate(annual_rate: float) -> float:
    return (1.0 + annual_rate) ** (1.0 / 12.0) - 1.0


@dataclass(frozen=True)
class CustomerForecast:
    """Per-customer model outputs, aligned with the summary's customers."""

    p_alive: np.ndarray
    expected_purchases: np.ndarray  # over the horizon, undiscounted
    expected_spend: np.ndarray  # per purchase
    expected_value: np.ndarray  # discounted CLV over the horizon


def forecast(
    bgnbd_params: bgnbd.BGNBDParams,
    gg_params: gamma_gamma.GammaGammaParams,
    *,
    x,
    t_x,
    T,
    zbar,
    time_unit: str = "weeks",
    months: int = 12,
    annual_discount_rate: float = 0.10,
) -> CustomerForecast:
    """Expected purchases, spend and discounted value over ``months`` months for each customer."""
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    month = DAYS_PER_MONTH / DAYS_PER_UNIT[time_unit]
    horizons = month * np.arange(months + 1, dtype=float)[:, None]  # (months + 1, 1)
    cumulative = bgnbd.expected_purchases(bgnbd_params, horizons, x, t_x, T)
    cumulative[0] = 0.0
    per_month = np.diff(cumulative, axis=0)  # (months, customers)
    rate = monthly_discount_rate(annual_discount_rate)
    discount = (1.0 + rate) ** -np.arange(1, months + 1, dtype=float)
    # Customers whose repeat purchases net to nothing (refunds) took no part in the spend fit;
    # they get the population's mean spend, as a customer with no repeat purchase does.
    zbar = np.asarray(zbar, dtype=float)
    spend_known = zbar > 0
    spend = gamma_gamma.conditional_expected_spend(
        gg_params, np.where(spend_known, x, 0.0), np.where(spend_known, zbar, 0.0)
    )
    return CustomerForecast(
        p_alive=bgnbd.probability_alive(bgnbd_params, x, t_x, T),
        expected_purchases=cumulative[-1],
        expected_spend=spend,
        expected_value=spend * (discount @ per_month),
    )


@dataclass(frozen=True)
class CLVResult:
    summary: RFMSummary
    bgnbd: bgnbd.BGNBDFit
    gamma_gamma: gamma_gamma.GammaGammaFit
    forecast: CustomerForecast
    segments: RFMSegments
    annual_discount_rate: float
    months: int

    def parameters(self) -> dict:
        """The fitted parameters as JSON-ready numbers."""
        return {
            "bgnbd": self.bgnbd.params.as_dict(),
            "gamma_gamma": self.gamma_gamma.params.as_dict(),
            "customers": len(self.summary),
        }


def fit_transactions(
    customers,
    dates,
    amounts,
    *,
    observation_end: dt.date | None = None,
    time_unit: str = "weeks",
    months: int = 12,
    annual_discount_rate: float = 0.10,
) -> CLVResult:
    """Summarise a transaction log, fit BG/NBD and Gamma-Gamma, and forecast every customer.

    Raises ValueError with a readable message when the data cannot support a fit.
    """
    summary = summarize(
        customers, dates, amounts, observation_end=observation_end, time_unit=time_unit
    )
    bgnbd_fit = bgnbd.fit(summary.frequency, summary.recency, summary.T)
    gg_fit = gamma_gamma.fit(summary.frequency, summary.monetary)
    result = forecast(
        bgnbd_fit.params,
        gg_fit.params,
        x=summary.frequency,
        t_x=summary.recency,
        T=summary.T,
        zbar=summary.monetary,
        time_unit=time_unit,
        months=months,
        annual_discount_rate=annual_discount_rate,
    )
    return CLVResult(
        summary=summary,
        bgnbd=bgnbd_fit,
        gamma_gamma=gg_fit,
        forecast=result,
        segments=segments(summary),
        annual_discount_rate=annual_discount_rate,
        months=months,
    )
