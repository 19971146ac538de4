"""The home page's pipeline totals open deals in the company currency, each at the rate of its
expected close date (today without one), and names the deals left out for want of a rate."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.services.currencies import exchange_rate_set
from tests.factories.sales import OpportunityFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _company_eur(settings):
    settings.COMPANY_CURRENCY = "EUR"


def test_home_pipeline_in_eur_at_dated_rates(rep, rep_client, admin):
    today = timezone.localdate()
    later = today + dt.timedelta(days=60)
    exchange_rate_set(user=admin, currency="USD", valid_from=today, rate="0.90")
    exchange_rate_set(user=admin, currency="USD", valid_from=later, rate="0.80")

    def deal(amount, currency, close):
        return OpportunityFactory(
            owner=rep,
            amount=Decimal(amount),
            currency=currency,
            expected_close_date=close,
            probability=50,
        )

    deal("1000.00", "EUR", later)
    deal("1000.00", "USD", today + dt.timedelta(days=5))  # at 0.90
    deal("1000.00", "USD", later + dt.timedelta(days=1))  # at 0.80
    deal("500.00", "USD", None)  # today's rate: 0.90
    missing = deal("700.00", "CHF", later)

    response = rep_client.get(reverse("home"))

    # EUR 1,000 + 900 + 800 + 450 = 3,150; weighted at 50 %: 1,575.
    body = response.content.decode()
    assert "EUR 3,150" in body and "weighted 1,575" in body
    assert "1 left out of the total, no exchange rate" in body and missing.name in body
