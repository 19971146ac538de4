"""Campaign attribution credits won deals in every currency and totals them in the company
currency, each deal at the rate of its close date; a deal with no rate is left out of the
amounts and named. A campaign's cost converts at the rate of its start date.

Company currency EUR; USD is worth 0.90 EUR from 2026-01-01 and 0.80 EUR from 2026-02-15; GBP
has no rate.
  Campaign X (cost EUR 1,000) captured account P's lead on 2026-01-05; P won EUR 2,000 on
  2026-01-20, USD 1,000 on 2026-02-10, USD 1,000.05 on 2026-03-01 and GBP 700 on 2026-02-01.
  Campaign Y (cost USD 500, started 2026-01-10) captured account R's lead on 2026-03-01; R won
  EUR 900 on 2026-03-10.
"""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse

from crm.services.currencies import exchange_rate_set
from leads.campaigns.selectors import campaign_roi, campaigns_attribution
from leads.campaigns.services.attribution import campaign_credits_refresh
from tests.analytics.helpers import at, by, figure_rows
from tests.factories.crm import AccountFactory
from tests.factories.leads import CampaignFactory
from tests.leads.test_email_campaign_outcomes import captured, won

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _company_eur(settings):
    settings.COMPANY_CURRENCY = "EUR"


@pytest.fixture
def world(admin, rep):
    exchange_rate_set(user=admin, currency="USD", valid_from=dt.date(2026, 1, 1), rate="0.90")
    exchange_rate_set(user=admin, currency="USD", valid_from=dt.date(2026, 2, 15), rate="0.80")
    x = CampaignFactory(name="X", cost=Decimal("1000.00"), currency="EUR",
                        start_date=dt.date(2026, 1, 1))  # fmt: skip
    y = CampaignFactory(name="Y", cost=Decimal("500.00"), currency="USD",
                        start_date=dt.date(2026, 1, 10))  # fmt: skip
    p, r = AccountFactory(name="P", owner=rep), AccountFactory(name="R", owner=rep)
    captured(x, p, at("2026-01-05"))
    won(p, at("2026-01-20"), "2000.00")
    won(p, at("2026-02-10"), "1000.00", currency="USD")
    won(p, at("2026-03-01"), "1000.05", currency="USD")
    won(p, at("2026-02-01"), "700.00", currency="GBP")
    captured(y, r, at("2026-03-01"))
    won(r, at("2026-03-10"), "900.00")
    campaign_credits_refresh()
    return {"x": x, "y": y}


def test_credited_revenue_totals_in_eur_at_close_date_rates(world, admin):
    credited = campaigns_attribution(user=admin)
    x = credited[world["x"].pk]
    # By hand: EUR 2,000 + USD 1,000 × 0.90 + USD 1,000.05 × 0.80 (800.04) = 3,700.04; the
    # GBP deal has no rate: credited, left out of the amount and counted apart.
    assert (x.first_touch, x.first_touch_deals, x.first_touch_left_out) == (
        Decimal("3700.04"),
        3,
        1,
    )
    assert (x.last_touch, x.last_touch_deals, x.left_out_currencies) == (
        Decimal("3700.04"),
        3,
        ("GBP",),
    )

    roi = campaign_roi(campaign=world["x"], user=admin)
    # (3,700.04 − 1,000) ÷ 1,000.
    assert roi["first_touch_roi"] == Decimal("2.70004")
    # Y's cost: USD 500 × 0.90 (its start date's rate) = EUR 450; revenue 900 → ROI 1.
    roi_y = campaign_roi(campaign=world["y"], user=admin)
    assert (roi_y["cost"], roi_y["cost_rate"], roi_y["first_touch"]) == (
        Decimal("450.00"),
        Decimal("0.9"),
        Decimal("900.00"),
    )
    assert roi_y["first_touch_roi"] == Decimal("1")


def test_the_campaign_page_and_the_funnel_dashboard_name_rates_and_left_out_deals(
    world, client, admin
):
    client.force_login(admin)
    panel = client.get(reverse("leads:campaign_roi", args=[world["x"].pk])).content.decode()
    assert 'data-first-touch="3700.04"' in panel
    assert "Amounts in EUR (the company currency): each deal at the rate of its close date" in panel
    assert "1 first-touch and 1 last-touch deal in GBP" in panel
    panel_y = client.get(reverse("leads:campaign_roi", args=[world["y"].pk])).content.decode()
    assert 'data-cost="450.00"' in panel_y and "500.00 USD at 0.9 (2026-01-10)" in panel_y

    response = client.get(reverse("analytics:funnel"), {"start": "2026-01-01", "end": "2026-03-31"})
    rows = by(figure_rows(response, "campaign_roi"), "campaign")
    assert (rows["X"]["cost"], rows["X"]["first_touch"], rows["X"]["first_touch_deals"]) == (
        Decimal("1000.00"),
        Decimal("3700.04"),
        3,
    )
    assert (rows["Y"]["cost"], rows["Y"]["first_touch_roi"]) == (Decimal("450.00"), 100.0)
    page = response.content.decode()
    assert "USD 0.9 (valid from 2026-01-01), USD 0.8 (valid from 2026-02-15)" in page
    assert (
        "1 credited deal without a rate for the day left out of the revenue: GBP 2026-02 (1)."
        in page
    )


def test_a_campaign_cost_without_a_rate_leaves_its_roi_empty(world, admin):
    world["y"].currency = "GBP"
    world["y"].save(update_fields=["currency"])
    roi = campaign_roi(campaign=world["y"], user=admin)
    assert (roi["cost"], roi["first_touch"], roi["first_touch_roi"]) == (
        None,
        Decimal("900.00"),
        None,
    )


def test_credits_all_in_the_company_currency_total_without_rates(admin, rep, monkeypatch):
    """Every credit in EUR: the totals of every campaign read no rate, the note has none to
    tell of, and both equal what the rated totals give."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from leads.campaigns.selectors import attribution_rates

    x = CampaignFactory(name="X", cost=Decimal("1000.00"), currency="EUR",
                        start_date=dt.date(2026, 1, 1))  # fmt: skip
    p = AccountFactory(name="P", owner=rep)
    captured(x, p, at("2026-01-05"))
    won(p, at("2026-01-20"), "2000.00")
    won(p, at("2026-02-10"), "1000.05")
    campaign_credits_refresh()

    with CaptureQueriesContext(connection) as queries:
        plain = campaigns_attribution(user=admin)
        assert attribution_rates(user=admin) == []
    assert not any("crm_exchangerate" in q["sql"] for q in queries)
    monkeypatch.setattr("crm.currencies.company_currency_only", lambda *a: False)
    monkeypatch.setattr("leads.campaigns.selectors.company_currency_only", lambda *a: False)
    rated = campaigns_attribution(user=admin)

    assert plain == rated
    assert plain[x.pk].first_touch == Decimal("3000.05") and plain[x.pk].first_touch_left_out == 0
    assert attribution_rates(user=admin) == []  # the company currency's rates are not told
