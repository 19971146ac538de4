"""A quota is in its own currency: attainment converts each won deal into it at the rates of the
deal's close day, leaves out deals without a rate, and the quota form checks the currency."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.services.currencies import exchange_rate_set
from sales import services
from sales.choices import PeriodKind
from sales.models import Quota
from sales.selectors import quota_attainment_list, sales_forecast
from tests.factories.sales import OpportunityFactory, stage_named

pytestmark = pytest.mark.django_db
YEAR = 2026


@pytest.fixture(autouse=True)
def _company_eur(settings):
    settings.COMPANY_CURRENCY = "EUR"


def _won(rep, amount, currency, day):
    return OpportunityFactory(
        owner=rep,
        stage=stage_named("Closed won"),
        amount=Decimal(amount),
        currency=currency,
        closed_at=timezone.make_aware(dt.datetime.combine(day, dt.time(12))),
        expected_close_date=day,
    )


@pytest.fixture
def q1(admin, manager, rep):
    """USD is 0.90 EUR from January and 0.80 EUR from 15 February; GBP 1.20 EUR; no JPY rate.
    Q1's won deals: EUR 900 (10 Feb), USD 2,000 (1 Mar), GBP 1,000 (5 Mar), JPY 50,000
    (10 Mar); USD 5,000 won in April is another quarter's."""
    exchange_rate_set(user=admin, currency="USD", valid_from=dt.date(YEAR, 1, 1), rate="0.90")
    exchange_rate_set(user=admin, currency="USD", valid_from=dt.date(YEAR, 2, 15), rate="0.80")
    exchange_rate_set(user=admin, currency="GBP", valid_from=dt.date(YEAR, 1, 1), rate="1.20")
    _won(rep, "900.00", "EUR", dt.date(YEAR, 2, 10))
    _won(rep, "2000.00", "USD", dt.date(YEAR, 3, 1))
    _won(rep, "1000.00", "GBP", dt.date(YEAR, 3, 5))
    jpy = _won(rep, "50000", "JPY", dt.date(YEAR, 3, 10))
    _won(rep, "5000.00", "USD", dt.date(YEAR, 4, 2))
    quarter = services.quota_set(
        user=manager,
        owner=rep,
        period_kind=PeriodKind.QUARTER,
        period_start=dt.date(YEAR, 2, 1),
        amount=Decimal("10000"),
        currency="usd",
    )
    march = services.quota_set(
        user=manager,
        owner=rep,
        period_kind=PeriodKind.MONTH,
        period_start=dt.date(YEAR, 3, 1),
        amount=Decimal("3000"),
        currency="EUR",
    )
    return quarter, march, jpy


def test_attainment_in_usd_counts_won_deals_at_their_close_day_rates(manager, rep, q1):
    quarter, march, _ = q1
    assert quarter.currency == "USD"
    rows = {a.quota.pk: a for a in quota_attainment_list(user=manager, year=YEAR)}

    # EUR 900 on 10 Feb at 0.90 → USD 1,000.00; USD 2,000; GBP 1,000 on 5 Mar: 1,000 × 1.20 ÷
    # 0.80 → USD 1,500.00. JPY has no rate: left out. April is not in Q1.
    usd = rows[quarter.pk]
    assert usd.won == Decimal("4500.00")
    assert usd.attainment == pytest.approx(45.0)
    assert usd.left_out == 1
    # March in EUR: USD 2,000 × 0.80 + GBP 1,000 × 1.20 = EUR 2,800.
    eur = rows[march.pk]
    assert eur.won == Decimal("2800.00") and eur.left_out == 1
    assert eur.attainment == pytest.approx(2800 / 3000 * 100)


def test_the_forecast_grid_counts_a_usd_quota_at_its_periods_first_day(manager, rep, q1):
    forecast = sales_forecast(user=manager, year=YEAR, granularity=PeriodKind.QUARTER)
    # USD 10,000 at 0.90 (the rate of 1 January) = EUR 9,000.
    assert forecast.cell(rep.pk, dt.date(YEAR, 1, 1)).quota == Decimal("9000.00")
    assert forecast.quotas_left_out == []


def test_a_quota_without_a_rate_is_left_out_of_the_grid_and_said(manager, rep):
    services.quota_set(
        user=manager,
        owner=rep,
        period_kind=PeriodKind.MONTH,
        period_start=dt.date(YEAR, 5, 1),
        amount=Decimal("100"),
        currency="CHF",
    )
    forecast = sales_forecast(user=manager, year=YEAR)
    assert forecast.cell(rep.pk, dt.date(YEAR, 5, 1)).quota == Decimal("0")
    assert forecast.quotas_left_out == [
        {"owner_id": rep.pk, "period_start": dt.date(YEAR, 5, 1), "currency": "CHF"}
    ]


def test_the_forecast_page_shows_each_quota_in_its_currency(manager_client, rep, q1):
    page = manager_client.get(reverse("sales:forecast"), {"year": YEAR}).content.decode()
    assert "USD 10,000.00" in page and "USD 4,500.00" in page and "45%" in page
    assert "EUR 2,800.00" in page
    assert "1 won deal without a rate on its close day" in page


def test_the_quota_form_checks_the_currency(manager_client, rep):
    url = reverse("sales:forecast")
    data = {"owner": rep.pk, "period_kind": "month", "period_start": "2026-05-01", "amount": "5"}
    bad = manager_client.post(url, {**data, "currency": "EURO"})
    assert bad.status_code == 200 and "currency" in bad.context["quota_form"].errors
    assert not Quota.objects.exists()
    good = manager_client.post(url, {**data, "currency": "usd"})
    assert good.status_code == 302
    assert Quota.objects.get().currency == "USD"
    # Without a currency: the company's.
    manager_client.post(url, {**data, "period_start": "2026-06-01"})
    assert Quota.objects.get(period_start=dt.date(2026, 6, 1)).currency == "EUR"


@pytest.mark.parametrize("months", [1, 12])
def test_the_forecast_page_costs_the_same_with_more_quotas(
    months, manager_client, manager, rep, admin, django_assert_max_num_queries
):
    exchange_rate_set(user=admin, currency="USD", valid_from=dt.date(YEAR, 1, 1), rate="0.90")
    for month in range(1, months + 1):
        services.quota_set(
            user=manager,
            owner=rep,
            period_kind=PeriodKind.MONTH,
            period_start=dt.date(YEAR, month, 1),
            amount=Decimal("1000"),
            currency="USD" if month % 2 else "GBP",
        )
        _won(rep, "100.00", "USD", dt.date(YEAR, month, 3))
    with django_assert_max_num_queries(24):
        response = manager_client.get(reverse("sales:forecast"), {"year": YEAR})
    assert len(response.context["attainments"]) == months


def test_a_rep_reads_only_their_own_quotas(rep, rep2, manager, q1, client):
    services.quota_set(
        user=manager,
        owner=rep2,
        period_kind=PeriodKind.MONTH,
        period_start=dt.date(YEAR, 3, 1),
        amount=Decimal("777"),
        currency="GBP",
    )
    assert {a.quota.owner_id for a in quota_attainment_list(user=rep, year=YEAR)} == {rep.pk}
    assert quota_attainment_list(user=rep2, year=YEAR)[0].quota.amount == Decimal("777")
    client.force_login(rep)
    page = client.get(reverse("sales:forecast"), {"year": YEAR}).content.decode()
    assert "GBP 777.00" not in page and "USD 10,000.00" in page


def test_a_deal_counts_for_the_period_its_close_day_falls_in_to_the_second(manager, rep):
    march = services.quota_set(
        user=manager,
        owner=rep,
        period_kind=PeriodKind.MONTH,
        period_start=dt.date(YEAR, 3, 1),
        amount=Decimal("1000"),
        currency="EUR",
    )
    utc = dt.UTC
    for closed, amount in [
        (dt.datetime(YEAR, 2, 28, 23, 59, 59, tzinfo=utc), "1.00"),  # February's last second
        (dt.datetime(YEAR, 3, 1, 0, 0, 0, tzinfo=utc), "10.00"),  # March's first
        (dt.datetime(YEAR, 3, 31, 23, 59, 59, tzinfo=utc), "100.00"),  # March's last
        (dt.datetime(YEAR, 4, 1, 0, 0, 0, tzinfo=utc), "1000.00"),  # April's first
    ]:
        deal = _won(rep, amount, "EUR", closed.date())
        type(deal).objects.filter(pk=deal.pk).update(closed_at=closed)

    (attainment,) = quota_attainment_list(user=manager, year=YEAR)

    assert attainment.quota == march
    assert attainment.won == Decimal("110.00")


def test_with_every_deal_in_the_company_currency_attainment_reads_no_rate(
    manager, rep, monkeypatch
):
    """Every deal in the company currency: a quota in it sums the amounts as they are, without
    the rates, and counts what the rated sum counts (to the close day)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    _won(rep, "900.25", "EUR", dt.date(YEAR, 2, 10))
    _won(rep, "99.75", "EUR", dt.date(YEAR, 2, 28))
    _won(rep, "5000.00", "EUR", dt.date(YEAR, 3, 1))  # the next month's
    services.quota_set(
        user=manager,
        owner=rep,
        period_kind=PeriodKind.MONTH,
        period_start=dt.date(YEAR, 2, 1),
        amount=Decimal("2000"),
        currency="EUR",
    )

    with CaptureQueriesContext(connection) as captured:
        (plain,) = quota_attainment_list(user=manager, year=YEAR)
    assert not any("crm_exchangerate" in q["sql"] for q in captured)
    monkeypatch.setattr("sales.selectors.quotas.company_currency_only", lambda model: False)
    (rated,) = quota_attainment_list(user=manager, year=YEAR)

    assert (plain.won, plain.left_out) == (rated.won, rated.left_out) == (Decimal("1000.00"), 0)
