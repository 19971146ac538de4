import io

import pytest
from django.db.models import Count

from crm.seeding import SeedContext, anchor_datetime, demo_users_create, seed_core
from sales.models import (
    OnboardingPlan,
    Opportunity,
    OpportunityLineItem,
    Order,
    Quota,
    Quote,
    StageChange,
)
from sales.seed import seed

pytestmark = pytest.mark.django_db


def test_demo_data_covers_every_pipeline_and_stage_with_history_and_orders():
    users = demo_users_create(scale=1, password="x")
    ctx = SeedContext(scale=1, users=users, now=anchor_datetime(), stdout=io.StringIO())
    seed_core(ctx.for_step("crm"))
    seed(ctx.for_step("sales"))

    deals = Opportunity.objects.all()
    assert deals.count() == 600
    by_pipeline = dict(deals.values_list("pipeline__name").annotate(n=Count("id")))
    assert set(by_pipeline) == {"New business", "Expansion", "Renewal"}
    assert set(deals.values_list("status", flat=True)) == {"open", "won", "lost"}
    assert not deals.filter(name__startswith="Customer").exists()
    assert deals.filter(status="lost", lost_reason="").count() == 0
    # Every deal has its history, starting from nothing
    assert StageChange.objects.filter(from_stage__isnull=True).count() == 600
    assert OpportunityLineItem.objects.exists()
    # Won deals have exactly one order each; some customers ordered again
    won = deals.filter(status="won").count()
    assert Order.objects.filter(opportunity__isnull=False).count() == won
    assert Order.objects.filter(opportunity__isnull=True).exists()
    assert Quota.objects.filter(owner=users["rep"]).count() >= 24
    assert Quote.objects.exists() and OnboardingPlan.objects.exists()


def test_the_demo_fills_in_the_seller_printed_on_quotes_but_keeps_an_admins():
    from sales.models import SellerProfile

    users = demo_users_create(scale=0.05, password="x")
    ctx = SeedContext(scale=0.05, users=users, now=anchor_datetime(), stdout=io.StringIO())
    seed_core(ctx.for_step("crm"))
    seed(ctx.for_step("sales"))
    seller = SellerProfile.current()
    assert seller.legal_name == "Tealbridge Software Ltd"
    assert seller.address and seller.tax_id and seller.default_tax_rate == 20

    SellerProfile.objects.filter(pk=1).update(legal_name="Our Own Ltd", address="Here")
    seed(ctx.for_step("sales again"))
    assert SellerProfile.current().legal_name == "Our Own Ltd"
