"""Recency-frequency-monetary summaries of a transaction log, and RFM segments.

The summary follows the literature's conventions (Fader, Hardie & Lee 2005; the CDNOW summary
Hardie distributes): a customer's purchases on one calendar day count as one purchase with the
day's amounts added up; ``frequency`` (x) is the number of purchase days after the first;
``recency`` (t_x) is the time from the first to the last purchase day, ``T`` from the first
purchase day to the end of the calibration period; ``monetary`` is the mean value of the repeat
purchase days (0 when x = 0; the first purchase is left out, as the Gamma-Gamma model wants).
The time unit (days or weeks) only scales t_x and T: de-duplication is always by day, which is
what reproduces the published CDNOW summary (T = 38.86 weeks for a customer acquired on
1997-01-01 with the period ending 1997-09-30).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
from scipy.stats import rankdata

from analytics.choices import RFMSegment

DAYS_PER_UNIT = {"days": 1.0, "weeks": 7.0}


@dataclass(frozen=True)
class RFMSummary:
    """One row per customer (arrays aligned with ``customer``)."""

    customer: np.ndarray
    first_purchase: np.ndarray  # datetime64[D]
    last_purchase: np.ndarray  # datetime64[D]
    frequency: np.ndarray  # repeat purchase days (x)
    recency: np.ndarray  # t_x, in time_unit
    T: np.ndarray  # age, in time_unit
    monetary: np.ndarray  # mean value of repeat purchase days (zbar)
    total: np.ndarray  # every purchase in the calibration period, first one included
    observation_end: dt.date
    time_unit: str

    def __len__(self) -> int:
        return int(self.customer.size)


def _to_days(dates) -> np.ndarray:
    return np.asarray(dates).astype("datetime64[D]").astype(np.int64)


def summarize(
    customers,
    dates,
    amounts,
    *,
    observation_end: dt.date | None = None,
    time_unit: str = "weeks",
) -> RFMSummary:
    """Per-customer RFM summary of transactions up to and including ``observation_end``.

    ``customers``: any sortable ids; ``dates``: dates (or datetime64); ``amounts``: numbers.
    Transactions after ``observation_end`` are ignored (the calibration period); customers whose
    first purchase is after it do not appear. The default end is the last transaction date.
    """
    if time_unit not in DAYS_PER_UNIT:
        raise ValueError(f"time unit must be one of {', '.join(DAYS_PER_UNIT)}")
    customers = np.asarray(customers)
    days = _to_days(dates)
    amounts = np.asarray(amounts, dtype=float)
    if not (customers.shape == days.shape == amounts.shape):
        raise ValueError("customers, dates and amounts must have the same length")
    if days.size == 0:
        raise ValueError("no transactions")
    end_day = (
        int(days.max())
        if observation_end is None
        else int(np.datetime64(observation_end, "D").astype(np.int64))
    )
    keep = days <= end_day
    if not keep.any():
        raise ValueError("no transactions on or before the observation end")
    customers, days, amounts = customers[keep], days[keep], amounts[keep]

    ids, code = np.unique(customers, return_inverse=True)
    code = code.ravel()
    order = np.lexsort((days, code))
    code, days, amounts = code[order], days[order], amounts[order]

    # One row per (customer, day): amounts of the same day added up.
    new_day = np.ones(code.size, dtype=bool)
    new_day[1:] = (code[1:] != code[:-1]) | (days[1:] != days[:-1])
    day_starts = np.flatnonzero(new_day)
    day_code = code[day_starts]
    day_date = days[day_starts]
    day_amount = np.add.reduceat(amounts, day_starts)

    # One row per customer.
    new_customer = np.ones(day_code.size, dtype=bool)
    new_customer[1:] = day_code[1:] != day_code[:-1]
    starts = np.flatnonzero(new_customer)
    ends = np.append(starts[1:], day_code.size) - 1
    purchase_days = ends - starts + 1
    first = day_date[starts]
    last = day_date[ends]
    total = np.add.reduceat(day_amount, starts)
    frequency = purchase_days - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        monetary = np.where(frequency > 0, (total - day_amount[starts]) / frequency, 0.0)

    unit = DAYS_PER_UNIT[time_unit]
    end = np.datetime64(end_day, "D")
    return RFMSummary(
        customer=ids,
        first_purchase=first.astype("datetime64[D]"),
        last_purchase=last.astype("datetime64[D]"),
        frequency=frequency.astype(np.int64),
        recency=(last - first) / unit,
        T=(end_day - first) / unit,
        monetary=monetary,
        total=total,
        observation_end=end.astype(dt.date),
        time_unit=time_unit,
    )


def quintile_scores(values, *, higher_is_better: bool = True) -> np.ndarray:
    """Scores 1..5 by rank: the top fifth gets 5. Ties share the lowest rank of their group, so
    e.g. all one-time buyers score 1 on frequency however many there are."""
    values = np.asarray(values, dtype=float)
    if values.size == 0:
        return np.zeros(0, dtype=np.int64)
    keyed = values if higher_is_better else -values
    rank = rankdata(keyed, method="min") - 1  # 0-based
    return (1 + np.floor(5 * rank / values.size)).astype(np.int64)


# The usual RFM map on recency (rows) and frequency (columns) scores 1..5.
_H, _AR, _CL = RFMSegment.HIBERNATING, RFMSegment.AT_RISK, RFMSegment.CANT_LOSE
_AS, _NA, _LO = RFMSegment.ABOUT_TO_SLEEP, RFMSegment.NEED_ATTENTION, RFMSegment.LOYAL
_PR, _PL = RFMSegment.PROMISING, RFMSegment.POTENTIAL_LOYALIST
_NE, _CH = RFMSegment.NEW, RFMSegment.CHAMPIONS
SEGMENT_MAP = (
    # F=1  F=2  F=3  F=4  F=5
    (_H, _H, _AR, _AR, _CL),  # R=1
    (_H, _H, _AR, _AR, _CL),  # R=2
    (_AS, _AS, _NA, _LO, _LO),  # R=3
    (_PR, _PL, _PL, _LO, _LO),  # R=4
    (_NE, _PL, _PL, _CH, _CH),  # R=5
)
_SEGMENT_TABLE = np.array([[str(s.value) for s in row] for row in SEGMENT_MAP], dtype=object)


@dataclass(frozen=True)
class RFMSegments:
    recency_score: np.ndarray
    frequency_score: np.ndarray
    monetary_score: np.ndarray
    segment: np.ndarray  # RFMSegment values

    @property
    def score(self) -> np.ndarray:
        """'RFM' as three digits, e.g. '545'."""
        return np.char.add(
            np.char.add(self.recency_score.astype(str), self.frequency_score.astype(str)),
            self.monetary_score.astype(str),
        )


def segments(summary: RFMSummary) -> RFMSegments:
    """Quintile scores (R: days since the last purchase, lower is better; F: purchase days;
    M: total spend in the period) and the named segment from the R x F map above."""
    since_last = summary.T - summary.recency
    r = quintile_scores(since_last, higher_is_better=False)
    f = quintile_scores(summary.frequency + 1)
    m = quintile_scores(summary.total)
    return RFMSegments(
        recency_score=r, frequency_score=f, monetary_score=m, segment=_SEGMENT_TABLE[r - 1, f - 1]
    )
