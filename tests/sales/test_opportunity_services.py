from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from crm.models import Activity
from leads.models import Campaign, Lead
from leads.signals import lead_converted
from sales import services
from sales.choices import ForecastCategory, StageKind
from sales.models import Opportunity, Order, OrderLine, Pipeline, StageChange
from sales.signals import opportunity_lost, opportunity_won
from tests.factories.crm import AccountFactory, ContactFactory
from tests.factories.sales import ProductFactory, stage_named

pytestmark = pytest.mark.django_db


def test_migration_seeds_three_pipelines_with_open_won_and_lost_stages():
    names = list(Pipeline.objects.values_list("name", flat=True))
    assert names == ["New business", "Expansion", "Renewal"]
    for pipeline in Pipeline.objects.all():
        kinds = [s.kind for s in pipeline.stages.order_by("order")]
        assert kinds[0] == StageKind.OPEN
        assert StageKind.WON in kinds and StageKind.LOST in kinds
    assert Pipeline.objects.get(is_default=True).name == "New business"


def test_create_starts_in_first_open_stage_with_its_probability(rep):
    account = AccountFactory(owner=rep)
    deal = services.opportunity_create(user=rep, name="Big deal", account=account)
    assert deal.stage == stage_named("Qualification")
    assert deal.probability == 10 and deal.owner == rep and deal.status == StageKind.OPEN
    change = StageChange.objects.get(opportunity=deal)
    assert change.from_stage is None and change.to_stage == deal.stage
    assert Activity.objects.for_object(deal).exists()


def test_create_refuses_a_closed_stage(rep):
    with pytest.raises(ValidationError):
        services.opportunity_create(
            user=rep, name="x", account=AccountFactory(owner=rep), stage=stage_named("Closed won")
        )


def test_move_stage_records_history_timeline_and_stage_probability(deal, rep):
    deal.probability = 55  # overridden by hand
    deal.save(update_fields=["probability"])
    services.opportunity_move_stage(opportunity=deal, stage=stage_named("Proposal"), user=rep)
    deal.refresh_from_db()
    assert deal.stage.name == "Proposal" and deal.probability == 40
    change = StageChange.objects.get(opportunity=deal)
    assert change.from_stage.name == "Qualification" and change.to_stage.name == "Proposal"
    assert change.changed_by == rep and change.seconds_in_from_stage is not None
    assert Activity.objects.for_object(deal).filter(summary__contains="→ Proposal").exists()


def test_update_overrides_probability_and_moves_stage(deal, rep):
    services.opportunity_update(
        opportunity=deal, user=rep, probability=33, next_step="Send pricing"
    )
    deal.refresh_from_db()
    assert deal.probability == 33 and deal.next_step == "Send pricing"
    services.opportunity_update(opportunity=deal, user=rep, stage=stage_named("Discovery"))
    assert Opportunity.objects.get(pk=deal.pk).stage.name == "Discovery"


def test_line_items_give_one_off_value_mrr_and_amount(deal, rep, product, monthly_product):
    services.line_item_add(
        opportunity=deal, user=rep, product=product, quantity=3, discount_percent=Decimal("10")
    )
    item = services.line_item_add(opportunity=deal, user=rep, product=monthly_product, quantity=2)
    deal.refresh_from_db()
    assert deal.one_off_amount == Decimal("540.00")  # 3 × 200 − 10 %
    assert deal.mrr == Decimal("100.00")
    assert deal.amount == Decimal("1740.00")  # one-off + 12 months
    services.line_item_update(item=item, user=rep, quantity=4)
    deal.refresh_from_db()
    assert deal.mrr == Decimal("200.00") and deal.amount == Decimal("2940.00")
    services.line_item_remove(item=item, user=rep)
    deal.refresh_from_db()
    assert deal.mrr == 0 and deal.amount == Decimal("540.00")


def test_an_amount_typed_over_line_items_is_marked_manual(deal, rep, product):
    services.line_item_add(opportunity=deal, user=rep, product=product)
    services.opportunity_update(opportunity=deal, user=rep, amount=Decimal("99999"))
    deal.refresh_from_db()
    assert deal.amount == Decimal("99999") and deal.amount_is_manual
    assert deal.lines_value == Decimal("200.00")


def test_line_item_bad_input_is_refused(deal, rep, product):
    usd = ProductFactory(currency="USD")
    with pytest.raises(ValidationError) as exc:
        services.line_item_add(opportunity=deal, user=rep, product=usd)
    assert "product" in exc.value.message_dict
    with pytest.raises(ValidationError) as exc:
        services.line_item_add(
            opportunity=deal, user=rep, product=product, quantity=0, discount_percent=150
        )
    assert {"quantity", "discount_percent"} <= set(exc.value.message_dict)


def test_winning_twice_records_one_order_and_sends_won_once(deal, rep, product):
    services.line_item_add(opportunity=deal, user=rep, product=product, quantity=2)
    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    opportunity_won.connect(receiver)
    try:
        services.opportunity_close_won(opportunity=deal, user=rep)
        services.opportunity_close_won(opportunity=deal, user=rep)
        services.opportunity_move_stage(opportunity=deal, stage=stage_named("Closed won"), user=rep)
    finally:
        opportunity_won.disconnect(receiver)
    deal.refresh_from_db()
    assert deal.status == StageKind.WON and deal.is_won and deal.probability == 100
    assert deal.forecast_category == ForecastCategory.CLOSED and deal.closed_at is not None
    order = Order.objects.get()
    assert order.opportunity == deal and order.amount == Decimal("400.00")
    assert order.account == deal.account
    assert OrderLine.objects.filter(order=order).count() == 1
    assert len(received) == 1 and received[0]["order"] == order and received[0]["user"] == rep


def test_a_won_deal_is_final(deal, rep, product):
    services.opportunity_close_won(opportunity=deal, user=rep)
    with pytest.raises(ValidationError):
        services.opportunity_move_stage(opportunity=deal, stage=stage_named("Proposal"), user=rep)
    with pytest.raises(ValidationError):
        services.opportunity_close_lost(opportunity=deal, user=rep, reason="price")
    with pytest.raises(ValidationError):
        services.line_item_add(opportunity=deal, user=rep, product=product)


def test_losing_needs_a_reason_and_happens_once(deal, rep):
    with pytest.raises(ValidationError):
        services.opportunity_close_lost(opportunity=deal, user=rep, reason="")
    with pytest.raises(ValidationError):
        services.opportunity_move_stage(
            opportunity=deal, stage=stage_named("Closed lost"), user=rep
        )
    received = []
    opportunity_lost.connect(lambda sender, **kw: received.append(kw), weak=False, dispatch_uid="t")
    try:
        services.opportunity_close_lost(opportunity=deal, user=rep, reason="price", note="Too dear")
        services.opportunity_close_lost(opportunity=deal, user=rep, reason="competitor")
    finally:
        opportunity_lost.disconnect(dispatch_uid="t")
    deal.refresh_from_db()
    assert deal.status == StageKind.LOST and deal.lost_reason == "price"
    assert deal.probability == 0 and len(received) == 1
    assert not Order.objects.exists()


def test_a_lost_deal_can_be_reopened(deal, rep):
    services.opportunity_close_lost(opportunity=deal, user=rep, reason="timing")
    services.opportunity_move_stage(opportunity=deal, stage=stage_named("Discovery"), user=rep)
    deal.refresh_from_db()
    assert deal.status == StageKind.OPEN and deal.lost_reason == "" and deal.closed_at is None
    assert deal.forecast_category == ForecastCategory.PIPELINE


def test_converted_lead_becomes_an_attributed_opportunity(rep):
    campaign = Campaign.objects.create(name="Spring fair", slug="spring-fair")
    lead = Lead.objects.create(last_name="Meyer", company_name="Acme", owner=rep, campaign=campaign)
    account = AccountFactory(owner=rep)
    contact = ContactFactory(account=account, owner=rep)
    created = []
    lead_converted.send(
        sender=Lead,
        lead=lead,
        account=account,
        contact=contact,
        user=rep,
        create_opportunity=True,
        opportunity_name="Acme platform",
        opportunity_amount=Decimal("5000"),
        created=created,
    )
    deal = Opportunity.objects.get()
    assert created == [deal]
    assert deal.name == "Acme platform" and deal.amount == Decimal("5000")
    assert deal.stage == stage_named("Qualification") and deal.owner == rep
    assert deal.source_lead == lead and deal.campaign == campaign
    assert deal.primary_contact == contact and deal.account == account


def test_converted_lead_without_opportunity_creates_none(rep):
    lead = Lead.objects.create(last_name="Meyer", owner=rep)
    account = AccountFactory(owner=rep)
    lead_converted.send(
        sender=Lead,
        lead=lead,
        account=account,
        contact=None,
        user=rep,
        create_opportunity=False,
        opportunity_name="",
        opportunity_amount=None,
        created=[],
    )
    assert not Opportunity.objects.exists()


def test_lead_convert_service_opens_the_deal_in_the_default_pipeline(rep):
    from leads.services.leads import lead_convert

    lead = Lead.objects.create(
        last_name="Meyer", company_name="Initech", website="initech.example", owner=rep
    )
    conversion = lead_convert(
        lead=lead, user=rep, create_opportunity=True, opportunity_amount=Decimal("900")
    )
    deal = Opportunity.objects.get()
    assert conversion.created == [deal]
    assert deal.account == conversion.account and deal.source_lead == lead
    assert deal.stage == stage_named("Qualification") and deal.amount == Decimal("900")
