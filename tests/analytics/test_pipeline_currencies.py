"""The pipeline dashboard totals deals in several currencies in the company currency, each at
the rate of its deal's close (or expected close) date, names the rates it used and counts the
deals it could not convert."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from analytics.models import DealDay, OpenDeals
from analytics.rollups import rollups_rebuild
from crm.services.currencies import exchange_rate_set
from sales.choices import ForecastCategory
from tests.analytics.helpers import by, every_account, figure_rows
from tests.analytics.test_pipeline_dashboard import deal

URL = reverse("analytics:pipeline")
RANGE = {"start": "2026-01-01", "end": "2026-03-31"}


@pytest.fixture(autouse=True)
def _company_eur(settings):
    settings.COMPANY_CURRENCY = "EUR"


@pytest.fixture
def deals_in_currencies(admin, rep):
    # USD is worth 0.90 EUR from January 1st and 0.80 EUR from February 15th; GBP has no rate.
    exchange_rate_set(user=admin, currency="USD", valid_from=dt.date(2026, 1, 1), rate="0.90")
    exchange_rate_set(user=admin, currency="USD", valid_from=dt.date(2026, 2, 15), rate="0.80")
    deal(rep, "Closed won", "1000.00", currency="EUR", created="2026-01-05", closed="2026-01-20")
    deal(rep, "Closed won", "1000.00", currency="USD", created="2026-01-05", closed="2026-02-10")
    deal(rep, "Closed won", "1000.05", currency="USD", created="2026-01-05", closed="2026-03-01")
    deal(rep, "Closed lost", "500.00", currency="USD", created="2026-01-05", closed="2026-03-05")
    deal(rep, "Closed won", "700.00", currency="GBP", created="2026-01-05", closed="2026-02-01")
    deal(
        rep,
        "Proposal",
        "2000.00",
        currency="USD",
        expected_close_date=dt.date(2026, 3, 20),
        forecast_category=ForecastCategory.COMMIT,
        probability=50,
    )
    deal(rep, "Proposal", "1000.00", currency="EUR", expected_close_date=dt.date(2026, 3, 25))


def test_eur_and_usd_deals_total_in_eur_at_the_dated_rates(
    manager_client, manager, deals_in_currencies
):
    rollups_rebuild()
    response = manager_client.get(URL, RANGE)

    # Won by hand: January EUR 1,000; February USD 1,000 × 0.90 = 900 (the GBP deal has no
    # rate: left out of the amounts); March USD 1,000.05 × 0.80 = 800.04.
    months = by(figure_rows(response, "forecast"), "month")
    assert months["2026-01"]["won"] == Decimal("1000.00")
    assert months["2026-02"]["won"] == Decimal("900.00")
    assert months["2026-03"]["won"] == Decimal("800.04")
    assert sum(DealDay.objects.values_list("amount", flat=True)) == Decimal("3100.04")
    # Open in March: the USD commit deal at March 20th's rate, 2,000 × 0.80 = 1,600.
    assert months["2026-03"]["commit"] == Decimal("1600.00")
    assert sum(OpenDeals.objects.values_list("amount", flat=True)) == Decimal("2600.00")
    # Lost USD 500 × 0.80 = 400: by value 2,700.04 won of 3,100.04 closed and converted.
    rep_row = figure_rows(response, "win_rate_rep")[0]
    assert (rep_row["won"], rep_row["lost"]) == (4, 1)  # the GBP deal still counts as won
    assert rep_row["rate_value"] == round(100 * 2700.04 / 3100.04, 1)

    # The note names the company currency, the rule and each rate used.
    page = response.content.decode()
    assert "Amounts in EUR (the company currency): closed deals at the rate of their close" in page
    assert "USD 0.9 (valid from 2026-01-01)" in page
    assert "USD 0.8 (valid from 2026-02-15)" in page
    assert "1 deal without a rate for the day left out of the amounts" in page

    # A segment's figures, computed live from the deals, convert the same way.
    segment = every_account(manager)
    live = manager_client.get(URL, {**RANGE, "segment": segment.pk})
    live_months = by(figure_rows(live, "forecast"), "month")
    assert [live_months[m]["won"] for m in ("2026-01", "2026-02", "2026-03")] == [
        Decimal("1000.00"),
        Decimal("900.00"),
        Decimal("800.04"),
    ]
    assert live_months["2026-03"]["commit"] == Decimal("1600.00")
    assert "USD 0.8 (valid from 2026-02-15)" in live.content.decode()


def test_a_rate_entered_later_converts_the_deal_at_the_next_rebuild(admin, deals_in_currencies):
    rollups_rebuild()
    assert DealDay.objects.filter(currency="GBP", rate__isnull=True).exists()
    exchange_rate_set(user=admin, currency="GBP", valid_from=dt.date(2026, 1, 1), rate="1.15")
    rollups_rebuild()
    gbp = DealDay.objects.get(currency="GBP")
    assert (gbp.rate, gbp.rate_date, gbp.amount) == (
        Decimal("1.15"),
        dt.date(2026, 1, 1),
        Decimal("805.00"),
    )
