"""The forecast totals deals in several currencies in the company currency, each at the rate of
its deal's date, names the rates it used, and lists deals without a rate instead of adding them."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.services.currencies import exchange_rate_set
from sales.choices import ForecastCategory, PeriodKind
from sales.selectors import pipeline_board, sales_forecast
from tests.factories.sales import OpportunityFactory, stage_named

pytestmark = pytest.mark.django_db
YEAR = 2026
Q1, Q2 = dt.date(YEAR, 1, 1), dt.date(YEAR, 4, 1)


@pytest.fixture(autouse=True)
def _company_eur(settings):
    settings.COMPANY_CURRENCY = "EUR"


def _open(rep, amount, currency, day, category=ForecastCategory.PIPELINE):
    return OpportunityFactory(
        owner=rep,
        amount=Decimal(amount),
        currency=currency,
        expected_close_date=day,
        probability=50,
        forecast_category=category,
    )


def _won(rep, amount, currency, day):
    return OpportunityFactory(
        owner=rep,
        stage=stage_named("Closed won"),
        amount=Decimal(amount),
        currency=currency,
        closed_at=timezone.make_aware(dt.datetime.combine(day, dt.time(12))),
        expected_close_date=day,
    )


def test_eur_and_usd_deals_total_in_eur_at_the_dated_rates(client, admin, rep):
    # Given USD at 0.90 EUR from January and 0.80 EUR from April, and no GBP rate,
    exchange_rate_set(user=admin, currency="USD", valid_from=dt.date(YEAR, 1, 1), rate="0.90")
    exchange_rate_set(user=admin, currency="USD", valid_from=dt.date(YEAR, 4, 1), rate="0.80")
    _open(rep, "1000.00", "EUR", dt.date(YEAR, 5, 10), ForecastCategory.COMMIT)
    _open(rep, "1000.00", "USD", dt.date(YEAR, 3, 15), ForecastCategory.COMMIT)
    _open(rep, "2000.00", "USD", dt.date(YEAR, 5, 20))
    _won(rep, "500.00", "USD", dt.date(YEAR, 2, 10))
    _won(rep, "300.00", "EUR", dt.date(YEAR, 4, 2))
    gbp = _open(rep, "700.00", "GBP", dt.date(YEAR, 5, 1))

    forecast = sales_forecast(user=admin, year=YEAR, granularity=PeriodKind.QUARTER)

    # Q1: USD 1,000 open at 0.90; USD 500 won in February at 0.90.
    q1 = forecast.cell(rep.pk, Q1)
    assert q1.pipeline == Decimal("900.00")
    assert q1.commit == Decimal("900.00")
    assert q1.won == Decimal("450.00")
    # Q2: EUR 1,000 + USD 2,000 at 0.80 = 2,600; the GBP deal is in no figure.
    q2 = forecast.cell(rep.pk, Q2)
    assert q2.pipeline == Decimal("1000.00") + Decimal("2000.00") * Decimal("0.80")
    assert q2.commit == Decimal("1000.00")
    assert q2.weighted == Decimal("1300.00")
    assert q2.won == Decimal("300.00")
    assert forecast.cell(None, Q2).pipeline == Decimal("2600.00")

    assert forecast.currency == "EUR"
    assert [(r["currency"], r["rate_date"], r["rate"]) for r in forecast.rates_used] == [
        ("USD", dt.date(YEAR, 1, 1), Decimal("0.9")),
        ("USD", dt.date(YEAR, 4, 1), Decimal("0.8")),
    ]
    assert forecast.left_out_count == 1
    assert [d["pk"] for d in forecast.left_out] == [gbp.pk]

    # The page says how it computed and which deal it left out.
    client.force_login(admin)
    page = client.get(
        reverse("sales:forecast"), {"year": YEAR, "by": PeriodKind.QUARTER}
    ).content.decode()
    assert "1 USD = 0.8 EUR from 2026-04-01" in page
    assert "1 deal left out" in page
    assert gbp.name in page


def test_a_rate_added_later_brings_the_deal_in(admin, rep):
    _open(rep, "700.00", "GBP", dt.date(YEAR, 5, 1))
    assert sales_forecast(user=admin, year=YEAR).left_out_count == 1

    exchange_rate_set(user=admin, currency="GBP", valid_from=dt.date(YEAR, 4, 30), rate="1.15")

    forecast = sales_forecast(user=admin, year=YEAR)
    assert forecast.left_out_count == 0
    assert forecast.cell(rep.pk, dt.date(YEAR, 5, 1)).pipeline == Decimal("805.00")


def test_board_columns_total_in_eur_and_count_deals_without_a_rate(admin, rep):
    exchange_rate_set(user=admin, currency="USD", valid_from=dt.date(YEAR, 1, 1), rate="0.90")
    _open(rep, "1000.00", "EUR", dt.date(YEAR, 5, 10))
    _open(rep, "2000.00", "USD", dt.date(YEAR, 5, 20))
    _open(rep, "700.00", "GBP", dt.date(YEAR, 5, 1))
    stage = stage_named("Qualification")

    columns = pipeline_board(user=admin, pipeline=stage.pipeline)

    column = next(c for c in columns if c.stage == stage)
    assert column.count == 3
    assert column.value == Decimal("1000.00") + Decimal("2000.00") * Decimal("0.90")
    assert column.weighted == Decimal("1400.00")
    assert column.left_out == 1


def test_deals_left_out_are_looked_for_in_the_currencies_in_use_only(admin, rep):
    """The note reads the deals of the currencies other than the company's, found by skipping
    along the currency index: with every deal in the company currency it reads no deal at all,
    and a deal in any other code, even one no form would accept, is still listed."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from crm.currencies import currencies_in_use
    from sales.models import Opportunity

    _open(rep, "1000.00", "EUR", dt.date(YEAR, 5, 1))
    _won(rep, "200.00", "EUR", dt.date(YEAR, 2, 1))
    with CaptureQueriesContext(connection) as all_eur:
        assert sales_forecast(user=admin, year=YEAR).left_out_count == 0
    odd = _open(rep, "300.00", "EUR", dt.date(YEAR, 6, 1))
    Opportunity.objects.filter(pk=odd.pk).update(currency="XQZ")  # behind the forms' back
    _open(rep, "400.00", "USD", dt.date(YEAR, 7, 1))

    assert currencies_in_use(Opportunity) == ["EUR", "USD", "XQZ"]
    with CaptureQueriesContext(connection) as mixed:
        forecast = sales_forecast(user=admin, year=YEAR)
    assert forecast.left_out_count == 2
    assert {d["currency"] for d in forecast.left_out} == {"USD", "XQZ"}
    # The deals are read (a count and the first ones, won and open) only when there are any.

    def deal_reads(captured):  # the note's counts and lists of deals left out
        return [q["sql"] for q in captured if "COUNT(*)" in q["sql"] or 'AS "pk"' in q["sql"]]

    assert deal_reads(all_eur) == [] and len(deal_reads(mixed)) == 4  # won and open, each 2


def test_a_board_in_the_company_currency_alone_totals_without_rates(admin, rep, monkeypatch):
    """With every deal in the company currency the totals skip the rates (read from the index of
    open deals' amounts) and equal what the rated totals give."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for amount, probability in (("1000.10", 10), ("333.33", 35), ("0.07", 50)):
        OpportunityFactory(
            owner=rep, amount=Decimal(amount), currency="EUR", probability=probability
        )
    stage = stage_named("Qualification")

    with CaptureQueriesContext(connection) as captured:
        plain = next(
            c for c in pipeline_board(user=admin, pipeline=stage.pipeline) if c.stage == stage
        )
    assert not any("crm_exchangerate" in q["sql"] for q in captured)
    monkeypatch.setattr("crm.currencies.company_currency_only", lambda *a: False)
    rated = next(c for c in pipeline_board(user=admin, pipeline=stage.pipeline) if c.stage == stage)

    assert (plain.count, plain.value, plain.weighted, plain.left_out) == (
        rated.count,
        rated.value,
        rated.weighted,
        rated.left_out,
    )
    assert plain.value == Decimal("1333.50") and plain.weighted == Decimal("216.71")


def test_the_home_pipeline_in_the_company_currency_alone_totals_without_rates(rep, monkeypatch):
    from django.db import connection
    from django.test import RequestFactory
    from django.test.utils import CaptureQueriesContext

    from sales.registrations import _pipeline_figures

    _open(rep, "1000.10", "EUR", timezone.localdate() + dt.timedelta(days=30))
    _open(rep, "333.33", "EUR", timezone.localdate() - dt.timedelta(days=1))  # overdue
    request = RequestFactory().get("/")
    request.user = rep

    with CaptureQueriesContext(connection) as captured:
        plain = _pipeline_figures(request)
    assert not any("crm_exchangerate" in q["sql"] for q in captured)
    monkeypatch.setattr("crm.currencies.company_currency_only", lambda *a: False)
    rated = _pipeline_figures(request)

    assert plain == rated
    assert plain["totals"]["n"] == 2 and plain["totals"]["overdue"] == 1
    assert plain["totals"]["left_out"] == 0 and plain["totals"]["value"] == Decimal("1333.43")
