import datetime as dt
from decimal import Decimal

import factory

from analytics.choices import RFMSegment, TimeUnit
from analytics.models import CLVFit, CustomerValue
from tests.factories.crm import AccountFactory


class CLVFitFactory(factory.django.DjangoModelFactory):
    """A fit's record (its parameters are not a real fit: run ``fit_clv`` for one)."""

    class Meta:
        model = CLVFit

    observation_end = dt.date(2026, 3, 31)
    time_unit = TimeUnit.WEEKS
    customers = 0
    currency = "EUR"
    parameters = factory.LazyFunction(lambda: {"bgnbd": {}, "gamma_gamma": {}})


class CustomerValueFactory(factory.django.DjangoModelFactory):
    """An account's value from ``fit``: a loyal customer worth 500 in the next 12 months."""

    class Meta:
        model = CustomerValue

    fit = factory.SubFactory(CLVFitFactory)
    account = factory.SubFactory(AccountFactory)
    first_purchase = dt.date(2025, 1, 1)
    frequency = 2
    recency = 10
    T = 50
    monetary = Decimal("100.00")
    historical_value = Decimal("1000.00")
    p_alive = 0.9
    expected_purchases_12m = 1.0
    expected_value_12m = Decimal("500.00")
    currency = "EUR"
    rfm_score = "555"
    rfm_segment = RFMSegment.CHAMPIONS
