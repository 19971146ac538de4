"""The CLV fit reads orders in every currency, each in the company currency at the rate of its
order date; an order with no rate is left out of the fit and named on the dashboard. Campaign
costs in another currency convert at the rate of the campaign's start date."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from analytics.clv.orders import fit_from_orders, order_transactions
from analytics.models import CustomerValue
from crm.services.currencies import exchange_rate_set
from tests.analytics.helpers import by, figure_rows
from tests.analytics.test_clv_dashboard import values  # noqa: F401  (the hand-made values)
from tests.analytics.test_fit_clv_command import cdnow_orders  # noqa: F401  (400 customers)

URL = reverse("analytics:clv")
END = dt.date(1997, 9, 30)


@pytest.fixture(autouse=True)
def _company_eur(settings):
    settings.COMPANY_CURRENCY = "EUR"


@pytest.fixture
def orders_in_currencies(cdnow_orders, admin):  # noqa: F811
    from sales.models import Order

    # USD is worth 0.90 EUR from 1997-01-01 and 0.80 EUR from 1997-03-01; GBP has no rate.
    exchange_rate_set(user=admin, currency="USD", valid_from=dt.date(1997, 1, 1), rate="0.90")
    exchange_rate_set(user=admin, currency="USD", valid_from=dt.date(1997, 3, 1), rate="0.80")
    # Customer 1 bought 29.33 on 1997-01-01, 29.73 on 01-18 and 14.96 on 08-02: the last two
    # in USD.
    first = Order.objects.filter(account__name="CDNOW customer 1")
    first.filter(order_date__in=[dt.date(1997, 1, 18), dt.date(1997, 8, 2)]).update(currency="USD")
    # Customer 2's first order in GBP.
    second = Order.objects.filter(account__name="CDNOW customer 2").order_by("order_date", "pk")
    gbp = second.first()
    gbp.currency = "GBP"
    gbp.save(update_fields=["currency"])
    kept = sum(o.amount for o in second if o.pk != gbp.pk and o.order_date <= END)
    return {"gbp": gbp, "second_total": kept}


def test_orders_convert_at_their_dates_and_one_without_a_rate_is_left_out(
    orders_in_currencies, client, admin
):
    accounts, _, amounts = order_transactions(observation_end=END)
    # Customer 2's transactions hold its EUR orders only: the GBP one is left out.
    gbp = orders_in_currencies["gbp"]
    kept = orders_in_currencies["second_total"]
    assert amounts[accounts == gbp.account_id].sum() == pytest.approx(float(kept))

    fit = fit_from_orders(observation_end=END, time_unit="weeks")
    assert fit.currency == "EUR"
    first = CustomerValue.objects.get(account__name="CDNOW customer 1")
    # By hand: 29.33 + 29.73 × 0.90 (26.757, to the cent 26.76) + 14.96 × 0.80 (11.968 → 11.97)
    # = 68.06; mean repeat spend (26.76 + 11.97) ÷ 2 = 19.365 → 19.37.
    assert first.historical_value == Decimal("68.06")
    assert first.monetary == Decimal("19.37")
    assert first.currency == "EUR"
    second = CustomerValue.objects.filter(account__name="CDNOW customer 2").first()
    assert (second.historical_value if second else Decimal("0")) == kept

    conversion = fit.parameters["conversion"]
    assert conversion["rates"] == [["USD", "1997-01-01", "0.9"], ["USD", "1997-03-01", "0.8"]]
    assert conversion["left_out"] == 1
    assert conversion["left_out_orders"] == [
        {
            "account": "CDNOW customer 2",
            "currency": "GBP",
            "amount": str(gbp.amount),
            "date": gbp.order_date.isoformat(),
        }
    ]

    client.force_login(admin)
    page = client.get(URL).content.decode()
    assert "Order values in EUR (the company currency): each order at the rate of its order" in page
    assert "USD 0.9 (valid from 1997-01-01), USD 0.8 (valid from 1997-03-01)" in page
    assert (
        f"1 order without a rate for the day left out of the fit: CDNOW customer 2 GBP "
        f"{gbp.amount:,.2f} on {gbp.order_date.isoformat()}." in page
    )


def test_campaign_cost_in_another_currency_converts_at_its_start_date(
    manager_client,
    admin,
    values,  # noqa: F811
):
    from leads.models import Campaign

    # C cost USD 900, started 2026-01-05 when USD was 0.90 EUR; D cost GBP 100 (no rate).
    exchange_rate_set(user=admin, currency="USD", valid_from=dt.date(2026, 1, 1), rate="0.90")
    exchange_rate_set(user=admin, currency="USD", valid_from=dt.date(2026, 3, 1), rate="0.70")
    Campaign.objects.filter(name="C").update(currency="USD", start_date=dt.date(2026, 1, 5))
    Campaign.objects.filter(name="D").update(currency="GBP", start_date=dt.date(2026, 2, 1))

    response = manager_client.get(URL)
    rows = by(figure_rows(response, "clv_cac"), "campaign")
    # C: USD 900 × 0.90 = EUR 810 over 2 customers = 405.00; CLV 3,000 ÷ 405 = 7.41.
    assert (rows["C"]["avg_clv"], rows["C"]["cac"], rows["C"]["ratio"]) == (
        Decimal("3000.00"),
        Decimal("405.00"),
        7.41,
    )
    # D: no GBP rate: the cost per customer and the ratio are left empty.
    assert (rows["D"]["cac"], rows["D"]["ratio"]) == (None, None)
    assert "Campaign costs in EUR at the rate of the campaign" in response.content.decode()
