import datetime as dt
from decimal import Decimal

import factory
import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from crm.models import Activity
from retention.choices import MovementKind, SubscriptionStatus
from retention.models import MrrMovement, Subscription
from retention.services import subscriptions as services
from tests.factories.crm import AccountFactory, UserFactory
from tests.factories.retention import SubscriptionFactory
from tests.visibility import assert_hidden

TODAY = dt.date(2026, 3, 1)


def ledger(subscription):
    return list(
        MrrMovement.objects.filter(subscription=subscription)
        .order_by("id")
        .values_list("kind", "amount", "mrr_after")
    )


def new_subscription(account, **kwargs):
    values = {"plan": "Analytics", "mrr": Decimal("400"), "start_date": TODAY, "currency": "EUR"}
    values.update(kwargs)
    return services.subscription_create(account=account, **values)


def test_an_active_subscription_starts_with_new_mrr_and_renews_after_its_term(account):
    subscription = new_subscription(account, seats=5, term_months=12)

    assert subscription.renewal_date == dt.date(2027, 3, 1)
    assert subscription.owner == account.owner
    assert ledger(subscription) == [(MovementKind.NEW, Decimal("400.00"), Decimal("400.00"))]
    # The timeline of the subscription and of its account tell what happened
    assert Activity.objects.for_object(subscription).filter(summary__contains="started").exists()
    account_entry = Activity.objects.for_object(account).get(summary__contains="Analytics")
    assert "400" not in account_entry.summary  # agents read account timelines, not revenue


def test_status_transitions_write_the_ledger(account):
    subscription = new_subscription(account, status=SubscriptionStatus.TRIAL)
    assert ledger(subscription) == []

    services.subscription_set_status(subscription=subscription, status="active", on=TODAY)
    services.subscription_set_status(subscription=subscription, status="cancelled", on=TODAY)
    subscription.refresh_from_db()
    assert subscription.auto_renew is False
    services.subscription_set_status(subscription=subscription, status="churned", on=TODAY)
    services.subscription_set_status(subscription=subscription, status="active", on=TODAY)

    assert [(k, a) for k, a, _ in ledger(subscription)] == [
        (MovementKind.NEW, Decimal("400.00")),
        (MovementKind.CHURN, Decimal("-400.00")),
        (MovementKind.REACTIVATION, Decimal("400.00")),
    ]
    churn_row = ledger(subscription)[1]
    assert churn_row[2] == Decimal("0")


def test_a_refused_transition_changes_nothing(account):
    subscription = new_subscription(account)
    services.subscription_set_status(subscription=subscription, status="churned")

    with pytest.raises(ValidationError):
        services.subscription_set_status(subscription=subscription, status="cancelled")

    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.CHURNED
    assert len(ledger(subscription)) == 2


def test_mrr_changes_are_expansion_or_contraction_while_paying(account):
    subscription = new_subscription(account)

    services.subscription_change(subscription=subscription, mrr=Decimal("550"), seats=8)
    services.subscription_change(subscription=subscription, mrr=Decimal("500"))
    services.subscription_change(subscription=subscription, mrr=Decimal("500"))  # no change

    assert [(k, a) for k, a, _ in ledger(subscription)][1:] == [
        (MovementKind.EXPANSION, Decimal("150.00")),
        (MovementKind.CONTRACTION, Decimal("-50.00")),
    ]
    subscription.refresh_from_db()
    assert (subscription.mrr, subscription.seats) == (Decimal("500.00"), 8)


def test_negative_mrr_is_refused(account):
    with pytest.raises(ValidationError):
        new_subscription(account, mrr=Decimal("-1"))
    assert not Subscription.objects.exists()


# Won deals ------------------------------------------------------------------------------------


@pytest.fixture
def won_deal(db, rep, account):
    from sales import services as sales_services
    from tests.factories.sales import OpportunityFactory, ProductFactory

    analytics = ProductFactory(
        name="Analytics", sku="ANA", price=Decimal("30.00"), billing="monthly"
    )
    setup = ProductFactory(name="Setup", sku="SETUP", price=Decimal("900.00"))

    def _win(quantity=10, one_off_only=False):
        deal = OpportunityFactory(owner=rep, account=account)
        if not one_off_only:
            sales_services.line_item_add(
                opportunity=deal, user=rep, product=analytics, quantity=quantity
            )
        sales_services.line_item_add(opportunity=deal, user=rep, product=setup)
        return sales_services.opportunity_close_won(opportunity=deal, user=rep)

    return _win


def test_winning_a_recurring_deal_starts_then_expands_the_subscription(won_deal, account):
    won_deal(quantity=10)
    subscription = Subscription.objects.get(account=account)
    assert (subscription.plan, subscription.product_sku) == ("Analytics", "ANA")
    assert (subscription.mrr, subscription.seats) == (Decimal("300.00"), 10)

    won_deal(quantity=5)

    subscription.refresh_from_db()
    assert Subscription.objects.filter(account=account).count() == 1
    assert (subscription.mrr, subscription.seats) == (Decimal("450.00"), 15)
    assert [k for k, _, _ in ledger(subscription)] == [MovementKind.NEW, MovementKind.EXPANSION]


def test_a_one_off_deal_starts_no_subscription(won_deal, account):
    won_deal(one_off_only=True)
    assert not Subscription.objects.filter(account=account).exists()


def test_handling_the_same_won_deal_twice_changes_nothing(won_deal, account, rep):
    deal = won_deal()
    services.subscriptions_from_won_deal(opportunity=deal, user=rep)
    assert Subscription.objects.get(account=account).mrr == Decimal("300.00")
    assert MrrMovement.objects.filter(account=account).count() == 1


# Pages -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("rows", [3, 60])
def test_subscription_list_keeps_its_query_count(
    rows, rep_client, rep, django_assert_max_num_queries
):
    SubscriptionFactory.create_batch(
        rows, account=factory.SubFactory(AccountFactory, owner=rep), owner=rep
    )
    SubscriptionFactory(plan="Someone else's")  # another rep's: not listed
    with django_assert_max_num_queries(10):
        response = rep_client.get(reverse("retention:subscription_list"))
    assert response.status_code == 200
    assert len(response.context["object_list"]) == min(rows, 50)
    assert "Someone else" not in response.content.decode()


def test_subscription_list_filters_and_sorts(rep_client, rep, account):
    SubscriptionFactory(account=account, owner=rep, plan="Cheap", mrr=Decimal("10"))
    SubscriptionFactory(account=account, owner=rep, plan="Dear", mrr=Decimal("900"))
    SubscriptionFactory(account=account, owner=rep, plan="Gone", status="churned")
    url = reverse("retention:subscription_list")

    response = rep_client.get(url, {"sort": "-mrr", "status": "active"})
    assert [s.plan for s in response.context["object_list"]] == ["Dear", "Cheap"]
    response = rep_client.get(url, {"q": "gone"})
    assert [s.plan for s in response.context["object_list"]] == ["Gone"]
    # A bad filter value re-renders, never a 500
    assert rep_client.get(url, {"status": "nonsense", "renewal_after": "x"}).status_code == 200


def test_detail_page_shows_the_ledger_with_a_fixed_query_count(
    rep_client, account, django_assert_max_num_queries
):
    subscription = new_subscription(account)
    for i in range(20):
        services.subscription_change(subscription=subscription, mrr=Decimal(400 + i))
    with django_assert_max_num_queries(14):
        response = rep_client.get(subscription.get_absolute_url())
    assert response.status_code == 200
    assert "Expansion" in response.content.decode()


def test_a_rep_creates_a_subscription_and_bad_input_re_renders(rep_client, account):
    url = reverse("retention:subscription_create")
    data = {
        "account": account.pk,
        "plan": "Reporting",
        "seats": 3,
        "mrr": "-5",
        "currency": "EUR",
        "status": "active",
        "start_date": "2026-01-15",
        "term_months": 12,
        "auto_renew": "on",
    }
    response = rep_client.post(url, data)
    assert response.status_code == 200
    assert response.context["form"].errors["mrr"]

    data["mrr"] = "120.50"
    response = rep_client.post(url, data)
    subscription = Subscription.objects.get(plan="Reporting")
    assert response.status_code == 302
    assert subscription.renewal_date == dt.date(2027, 1, 15)
    assert ledger(subscription)[0][1] == Decimal("120.50")


def test_status_and_mrr_actions_from_the_page(rep_client, account):
    subscription = new_subscription(account)
    rep_client.post(
        reverse("retention:subscription_change", args=[subscription.pk]),
        {"mrr": "600", "seats": "12", "note": "More seats"},
    )
    rep_client.post(
        reverse("retention:subscription_status", args=[subscription.pk]), {"status": "cancelled"}
    )
    # A refused transition is a message, not an error page
    response = rep_client.post(
        reverse("retention:subscription_status", args=[subscription.pk]), {"status": "trial"}
    )
    assert response.status_code == 302
    subscription.refresh_from_db()
    assert (subscription.mrr, subscription.seats, subscription.status) == (
        Decimal("600.00"),
        12,
        SubscriptionStatus.CANCELLED,
    )


def test_account_page_shows_subscriptions_and_mrr(rep_client, account, only_retention_panels):
    new_subscription(account, plan="Analytics", mrr=Decimal("400"))
    new_subscription(account, plan="Reporting", mrr=Decimal("100"))
    page = rep_client.get(account.get_absolute_url()).content.decode()
    assert "Analytics" in page and "Reporting" in page
    assert "EUR 500.00" in page


def test_subscriptions_are_hidden_outside_visibility(
    client, rep, rep2, agent, account, only_retention_panels
):
    subscription = new_subscription(account)
    for user in (rep2, agent):
        client.force_login(user)
        assert_hidden(
            client,
            get=[
                subscription.get_absolute_url(),
                reverse("retention:subscription_edit", args=[subscription.pk]),
            ],
            post=[
                (
                    reverse("retention:subscription_status", args=[subscription.pk]),
                    {"status": "churned"},
                ),
                (
                    reverse("retention:subscription_change", args=[subscription.pk]),
                    {"mrr": "1", "seats": "1"},
                ),
            ],
        )
    client.force_login(agent)
    page = client.get(account.get_absolute_url()).content.decode()
    assert "400.00" not in page and "Add a subscription" not in page
    assert client.get(reverse("retention:renewals")).status_code == 404
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE


def test_a_manager_sees_the_teams_subscriptions(manager_client, account):
    subscription = new_subscription(account)
    outsider = SubscriptionFactory(owner=UserFactory(username="outsider"))
    assert manager_client.get(subscription.get_absolute_url()).status_code == 200
    assert manager_client.get(outsider.get_absolute_url()).status_code == 404


def test_localdate_is_used_for_movements(account):
    subscription = new_subscription(account)
    services.subscription_change(subscription=subscription, mrr=Decimal("1"))
    assert (
        MrrMovement.objects.filter(subscription=subscription).first().date == timezone.localdate()
    )
