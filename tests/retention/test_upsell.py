from decimal import Decimal

import numpy as np
import pytest
from django.urls import reverse

from retention.models import ProductAssociation, Recommendation
from retention.services import upsell
from tests.factories.crm import AccountFactory
from tests.factories.retention import RecommendationFactory, SubscriptionFactory
from tests.visibility import assert_hidden

pytestmark = pytest.mark.django_db


def test_mining_measures_support_confidence_and_lift():
    # 10 accounts: products 0 and 1 go together; product 2 is everywhere
    m = np.zeros((10, 3), dtype=bool)
    m[:4, 0] = True
    m[:3, 1] = True
    m[:, 2] = True
    both, support, confidence, lift = upsell.mine(m)
    assert both[1, 0] == 3 and support[1, 0] == pytest.approx(0.3)
    assert confidence[1, 0] == pytest.approx(1.0)
    assert lift[1, 0] == pytest.approx(2.5)
    assert lift[0, 2] == pytest.approx(1.0)
    assert both[0, 0] == 0


@pytest.fixture
def holdings(rep, account):
    # 6 accounts hold Analytics and Reporting, 2 Analytics only (one is rep's), 6 Storage only
    for i in range(6):
        other = AccountFactory(owner=rep if i == 0 else None)
        SubscriptionFactory(account=other, plan="Analytics", product_sku="ANA")
        SubscriptionFactory(account=other, plan="Reporting", product_sku="REP")
    SubscriptionFactory(account=account, plan="Analytics", product_sku="ANA")
    SubscriptionFactory(plan="Analytics", product_sku="ANA")
    for _ in range(6):
        SubscriptionFactory(plan="Storage", product_sku="STO")
    return account


def test_recommendations_name_their_reason_and_are_made_once(holdings):
    result = upsell.upsell_refresh()
    assert result["rules"] >= 1
    rule = ProductAssociation.objects.get(antecedent_sku="ANA", consequent_sku="REP")
    assert rule.confidence == pytest.approx(6 / 8)
    rec = Recommendation.objects.get(account=holdings, product_sku="REP")
    assert rec.reason == "75% of accounts with Analytics also hold Reporting; lift 1.8"
    assert (rec.kind, rec.status, rec.product_name) == ("cross_sell", "open", "Reporting")
    assert rec.strength == pytest.approx(rule.lift, abs=0.001)
    upsell.upsell_refresh()
    # The open one is kept as it was, not made again.
    assert list(Recommendation.objects.filter(account=holdings, product_sku="REP")) == [rec]
    assert Recommendation.objects.get(pk=rec.pk).created_at == rec.created_at


def test_seats_near_the_limit_are_a_signal(account):
    SubscriptionFactory(account=account, plan="Platform", seats=20, seats_used=19)
    SubscriptionFactory(account=account, plan="Other", seats=20, seats_used=5)
    upsell.upsell_refresh()
    rec = Recommendation.objects.get(account=account, kind="seats")
    assert rec.reason == "19 of 20 seats of Platform in use (95%)"
    assert rec.strength == pytest.approx(0.95) and rec.status == "open"
    upsell.upsell_refresh()
    assert list(Recommendation.objects.filter(account=account, kind="seats")) == [rec]


def test_one_click_opens_an_expansion_deal_and_remembers_the_outcome(rep_client, rep, holdings):
    from sales import services as sales_services
    from sales.models import Opportunity
    from tests.factories.sales import ProductFactory

    ProductFactory(sku="REP", name="Reporting", price=Decimal("20.00"), billing="monthly")
    upsell.upsell_refresh()
    rec = Recommendation.objects.get(account=holdings, product_sku="REP")
    page = rep_client.get(holdings.get_absolute_url()).content.decode()
    assert "75% of accounts with Analytics" in page

    response = rep_client.post(reverse("retention:recommendation_take", args=[rec.pk]))

    deal = Opportunity.objects.get(account=holdings)
    assert response.status_code == 302 and response.url == deal.get_absolute_url()
    assert deal.pipeline.name == "Expansion" and deal.owner == rep
    assert deal.mrr == Decimal("20.00")
    rec.refresh_from_db()
    assert (rec.status, rec.opportunity_id) == ("taken", deal.pk)
    # Clicking again opens nothing more
    rep_client.post(reverse("retention:recommendation_take", args=[rec.pk]))
    assert Opportunity.objects.filter(account=holdings).count() == 1

    sales_services.opportunity_close_won(opportunity=deal, user=rep)
    rec.refresh_from_db()
    assert rec.status == "won"
    assert holdings.subscriptions.filter(product_sku="REP").exists()


def test_dismiss_and_visibility(client, rep, rep2, agent, holdings):
    upsell.upsell_refresh()
    rec = Recommendation.objects.get(account=holdings, product_sku="REP")
    for user in (rep2, agent):
        client.force_login(user)
        assert_hidden(
            client,
            post=[
                (reverse("retention:recommendation_take", args=[rec.pk]), {}),
                (reverse("retention:recommendation_dismiss", args=[rec.pk]), {}),
            ],
        )
    client.force_login(rep)
    client.post(reverse("retention:recommendation_dismiss", args=[rec.pk]))
    rec.refresh_from_db()
    assert rec.status == "dismissed"


@pytest.mark.parametrize("rows", [3, 60])
def test_upsell_list_keeps_its_query_count(rows, rep_client, rep, django_assert_max_num_queries):
    for _ in range(rows):
        RecommendationFactory(
            account=AccountFactory(owner=rep),
            kind="cross_sell",
            product_sku="X",
            product_name="X",
            reason="r",
            strength=1.5,
        )
    with django_assert_max_num_queries(10):
        response = rep_client.get(reverse("retention:upsell"))
    assert len(response.context["object_list"]) == min(rows, 50)
