"""The RFM summary of a transaction log and the RFM segments, on logs worked by hand."""

import datetime as dt

import numpy as np
import pytest

from analytics.choices import RFMSegment
from analytics.clv.rfm import quintile_scores, segments, summarize


def day(text):
    return np.datetime64(text)


def test_summary_counts_purchase_days_and_averages_repeat_purchases():
    # Customer "a": two orders on Jan 1 (one purchase worth 30), then Jan 8 (5) and Jan 15 (15).
    # Customer "b": one order on Jan 10. An order after the end date is ignored.
    customers = ["a", "a", "a", "a", "b", "a"]
    dates = [day("2024-01-01"), day("2024-01-01"), day("2024-01-08"), day("2024-01-15")]
    dates += [day("2024-01-10"), day("2024-03-01")]
    amounts = [10.0, 20.0, 5.0, 15.0, 7.0, 99.0]
    summary = summarize(
        customers, dates, amounts, observation_end=dt.date(2024, 1, 29), time_unit="weeks"
    )
    assert list(summary.customer) == ["a", "b"]
    assert list(summary.frequency) == [2, 0]
    np.testing.assert_allclose(summary.recency, [2.0, 0.0])  # Jan 1 -> Jan 15
    np.testing.assert_allclose(summary.T, [4.0, 19 / 7])  # to Jan 29
    np.testing.assert_allclose(summary.monetary, [10.0, 0.0])  # (5 + 15) / 2; first left out
    np.testing.assert_allclose(summary.total, [50.0, 7.0])
    assert summary.first_purchase[0] == day("2024-01-01")
    assert summary.observation_end == dt.date(2024, 1, 29)

    in_days = summarize(
        customers, dates, amounts, observation_end=dt.date(2024, 1, 29), time_unit="days"
    )
    np.testing.assert_allclose(in_days.recency, [14.0, 0.0])
    np.testing.assert_allclose(in_days.T, [28.0, 19.0])
    assert list(in_days.frequency) == [2, 0]


def test_summary_defaults_to_the_last_transaction_and_drops_later_customers():
    summary = summarize([1, 2], [day("2024-01-01"), day("2024-02-01")], [1.0, 2.0])
    assert summary.observation_end == dt.date(2024, 2, 1)
    early = summarize(
        [1, 2],
        [day("2024-01-01"), day("2024-02-01")],
        [1.0, 2.0],
        observation_end=dt.date(2024, 1, 15),
    )
    assert list(early.customer) == [1]


def test_summary_rejects_unusable_input():
    with pytest.raises(ValueError, match="time unit"):
        summarize([1], [day("2024-01-01")], [1.0], time_unit="months")
    with pytest.raises(ValueError, match="no transactions on or before"):
        summarize([1], [day("2024-01-01")], [1.0], observation_end=dt.date(2023, 1, 1))
    with pytest.raises(ValueError, match="same length"):
        summarize([1, 2], [day("2024-01-01")], [1.0])


def test_quintile_scores_rank_into_fifths_and_ties_share_the_lowest():
    np.testing.assert_array_equal(quintile_scores(np.arange(10)), [1, 1, 2, 2, 3, 3, 4, 4, 5, 5])
    np.testing.assert_array_equal(
        quintile_scores(np.arange(10), higher_is_better=False), [5, 5, 4, 4, 3, 3, 2, 2, 1, 1]
    )
    # Seven one-time buyers out of ten all score 1; the rest climb.
    np.testing.assert_array_equal(
        quintile_scores([1, 1, 1, 1, 1, 1, 1, 2, 3, 9]), [1, 1, 1, 1, 1, 1, 1, 4, 5, 5]
    )


def test_segments_name_customers_from_recency_and_frequency():
    # Ten customers observed to Mar 31; "champ" buys often and lately, "lost" once long ago.
    rows = []
    for i in range(8):
        rows += [(f"c{i}", day("2024-01-01") + np.timedelta64(7 * i, "D"), 10.0)]
    rows += [("champ", day("2024-01-01") + np.timedelta64(10 * k, "D"), 50.0) for k in range(10)]
    rows += [("champ", day("2024-03-30"), 50.0)]
    rows += [("lost", day("2024-01-01"), 5.0)]
    customers, dates, amounts = zip(*rows, strict=True)
    summary = summarize(customers, list(dates), amounts, observation_end=dt.date(2024, 3, 31))
    result = segments(summary)
    by_customer = dict(zip(summary.customer, result.segment, strict=True))
    assert by_customer["champ"] == RFMSegment.CHAMPIONS
    assert by_customer["lost"] == RFMSegment.HIBERNATING
    assert set(result.segment) <= set(RFMSegment.values)
    scores = dict(zip(summary.customer, result.score, strict=True))
    assert scores["champ"] == "555"
