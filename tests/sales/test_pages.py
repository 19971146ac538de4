from datetime import timedelta
from decimal import Decimal

import factory
import pytest
from django.urls import reverse
from django.utils import timezone

from crm.models import Activity
from sales import services
from sales.models import OnboardingPlan, Opportunity, Order, OrderLine, Quote
from tests.factories.crm import AccountFactory, ContactFactory, UserFactory
from tests.factories.sales import OpportunityFactory, QuotaFactory, stage_named
from tests.visibility import assert_hidden

pytestmark = pytest.mark.django_db


def deal_urls(deal):
    return [
        reverse("sales:opportunity_detail", args=[deal.pk]),
        reverse("sales:opportunity_edit", args=[deal.pk]),
        reverse("sales:opportunity_lose", args=[deal.pk]),
    ]


def deal_posts(deal, stage):
    return [
        (reverse("sales:opportunity_move", args=[deal.pk]), {"stage": stage.pk}),
        (reverse("sales:opportunity_win", args=[deal.pk]), {}),
        (reverse("sales:opportunity_lose", args=[deal.pk]), {"reason": "price"}),
        (reverse("sales:line_item_add", args=[deal.pk]), {"product": 1, "quantity": 1}),
        (reverse("sales:quote_create", args=[deal.pk]), {}),
    ]


def test_other_reps_deals_are_hidden_everywhere(rep_client, other_rep, product):
    deal = OpportunityFactory(owner=other_rep)
    item = services.line_item_add(opportunity=deal, user=other_rep, product=product)
    quote = services.quote_create(opportunity=deal, user=other_rep)
    assert_hidden(
        rep_client,
        get=[*deal_urls(deal), reverse("sales:quote_detail", args=[quote.pk])],
        post=[
            *deal_posts(deal, stage_named("Proposal")),
            (reverse("sales:line_item_update", args=[item.pk]), {"quantity": 3}),
            (reverse("sales:line_item_remove", args=[item.pk]), {}),
            (reverse("sales:quote_status", args=[quote.pk]), {"status": "sent"}),
        ],
    )
    deal.refresh_from_db()
    assert deal.stage.name == "Qualification" and deal.line_items.count() == 1
    assert Quote.objects.get().status == "draft"


def test_agents_have_no_access_to_deals_or_amounts(agent_client, rep, deal):
    Opportunity.objects.filter(pk=deal.pk).update(amount=Decimal("43210"))
    services.opportunity_close_won(opportunity=deal, user=rep)
    order = Order.objects.get()
    assert_hidden(
        agent_client,
        get=[
            *deal_urls(deal),
            reverse("sales:opportunity_list"),
            reverse("sales:opportunity_create"),
            reverse("sales:board_default"),
            reverse("sales:forecast"),
            reverse("sales:order_list"),
            reverse("sales:order_detail", args=[order.pk]),
        ],
        post=deal_posts(deal, stage_named("Proposal")),
    )
    page = agent_client.get(deal.account.get_absolute_url())
    assert page.status_code == 200
    body = page.content.decode()
    assert "43,210" not in body and "43210" not in body and "Opportunities" not in body
    home = agent_client.get(reverse("home")).content.decode()
    assert "Deals" not in home and "Forecast" not in home


def test_manager_sees_the_team_and_not_others(manager_client, rep, other_rep):
    mine = OpportunityFactory(owner=rep, name="Team deal")
    OpportunityFactory(owner=other_rep, name="Foreign deal")
    response = manager_client.get(reverse("sales:opportunity_list"))
    names = [o.name for o in response.context["object_list"]]
    assert names == ["Team deal"]
    assert manager_client.get(mine.get_absolute_url()).status_code == 200


@pytest.mark.parametrize("rows", [3, 60])
def test_list_and_board_keep_their_query_count(
    rows, rep_client, rep, django_assert_max_num_queries
):
    stages = [stage_named(n) for n in ("Qualification", "Discovery", "Proposal", "Negotiation")]
    OpportunityFactory.create_batch(
        rows,
        owner=rep,
        account=AccountFactory(owner=rep),
        stage=factory.Iterator(stages),
        expected_close_date=timezone.localdate(),
    )
    # and the saved views menu and the custom field definitions (roles and the bell's unread
    # count come with the user)
    with django_assert_max_num_queries(11):
        response = rep_client.get(reverse("sales:opportunity_list"))
    assert len(response.context["object_list"]) == min(rows, 50)
    with django_assert_max_num_queries(13):  # the bell's unread count comes with the user
        response = rep_client.get(reverse("sales:board_default"))
    columns = response.context["columns"]
    assert sum(c.count for c in columns) == rows
    assert all(len(c.cards) <= 25 for c in columns)
    assert any(c.more for c in columns) == (rows > 4 * 25)


def test_board_totals_weighted_value_and_more(rep_client, rep, settings):
    settings.SALES_BOARD_COLUMN_SIZE = 2
    stage = stage_named("Proposal")  # 40 %
    OpportunityFactory.create_batch(3, owner=rep, stage=stage, amount=Decimal("1000"))
    response = rep_client.get(reverse("sales:board_default"))
    column = next(c for c in response.context["columns"] if c.stage == stage)
    assert (column.count, column.value, column.weighted) == (3, Decimal("3000"), Decimal("1200"))
    assert len(column.cards) == 2 and column.more


def test_rotting_cards_are_highlighted(rep_client, rep):
    stage = stage_named("Proposal")  # rots after 10 days
    OpportunityFactory(
        owner=rep, stage=stage, name="Stale", stage_entered_at=timezone.now() - timedelta(days=11)
    )
    OpportunityFactory(owner=rep, stage=stage, name="Fresh")
    response = rep_client.get(reverse("sales:board_default"))
    cards = {c.name: c for col in response.context["columns"] for c in col.cards}
    assert cards["Stale"].rotting and not cards["Fresh"].rotting
    assert "Rotting" in response.content.decode()


def test_dragging_a_card_moves_it_and_returns_the_board(rep_client, deal):
    url = reverse("sales:opportunity_move", args=[deal.pk])
    stage = stage_named("Negotiation")
    response = rep_client.post(
        url, {"stage": stage.pk, "board": deal.pipeline_id}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    assert 'id="board"' in response.content.decode() and "<html" not in response.content.decode()
    deal.refresh_from_db()
    assert deal.stage == stage and deal.stage_changes.count() == 1


def test_dropping_on_lost_asks_for_a_reason(rep_client, deal):
    response = rep_client.post(
        reverse("sales:opportunity_move", args=[deal.pk]),
        {"stage": stage_named("Closed lost").pk, "board": deal.pipeline_id},
        HTTP_HX_REQUEST="true",
    )
    assert response["HX-Redirect"] == reverse("sales:opportunity_lose", args=[deal.pk])
    response = rep_client.post(reverse("sales:opportunity_lose", args=[deal.pk]), {"reason": ""})
    assert response.status_code == 200 and response.context["form"].errors
    rep_client.post(reverse("sales:opportunity_lose", args=[deal.pk]), {"reason": "price"})
    deal.refresh_from_db()
    assert deal.is_lost and deal.lost_reason == "price"


def test_bad_move_input_does_not_fail(rep_client, deal):
    url = reverse("sales:opportunity_move", args=[deal.pk])
    for data in ({"stage": "abc"}, {}, {"stage": 999999}):
        assert rep_client.post(url, data).status_code == 302
        assert (
            rep_client.post(url, {**data, "board": "x"}, HTTP_HX_REQUEST="true").status_code == 200
        )


def test_create_with_bad_input_shows_errors(rep_client):
    other_account = AccountFactory()
    contact = ContactFactory(account=other_account)
    response = rep_client.post(
        reverse("sales:opportunity_create"),
        {
            "name": "",
            "account": AccountFactory().pk,
            "primary_contact": contact.pk,
            "amount": "-5",
            "currency": "euro",
            "probability": "150",
            "forecast_category": "closed",
        },
    )
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert {"name", "primary_contact", "amount", "currency", "probability"} <= set(errors)
    assert "forecast_category" in errors
    assert not Opportunity.objects.exists()


def test_create_and_edit_through_the_form(rep_client, rep):
    account = AccountFactory(owner=rep)
    response = rep_client.post(
        reverse("sales:opportunity_create"),
        {
            "name": "Rollout",
            "account": account.pk,
            "amount": "12000",
            "currency": "eur",
            "forecast_category": "best_case",
        },
    )
    deal = Opportunity.objects.get()
    assert response.status_code == 302 and response["Location"] == deal.get_absolute_url()
    assert deal.currency == "EUR" and deal.probability == 10 and deal.owner == rep
    response = rep_client.post(
        reverse("sales:opportunity_edit", args=[deal.pk]),
        {
            "name": "Rollout",
            "account": account.pk,
            "owner": rep.pk,
            "stage": stage_named("Proposal").pk,
            "amount": "15000",
            "currency": "EUR",
            "probability": "",
            "forecast_category": "commit",
        },
    )
    assert response.status_code == 302
    deal.refresh_from_db()
    assert deal.stage.name == "Proposal" and deal.amount == Decimal("15000")
    assert deal.forecast_category == "commit" and deal.probability == 40


def test_line_items_inline_and_detail_query_count(
    rep_client, rep, deal, product, monthly_product, django_assert_max_num_queries
):
    url = reverse("sales:line_item_add", args=[deal.pk])
    response = rep_client.post(url, {"product": product.pk, "quantity": 2}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and 'id="line-items"' in response.content.decode()
    rep_client.post(url, {"product": monthly_product.pk, "quantity": 1, "discount_percent": "10"})
    deal.refresh_from_db()
    assert deal.one_off_amount == Decimal("400.00") and deal.mrr == Decimal("45.00")
    bad = rep_client.post(url, {"product": "", "quantity": "-1"}, HTTP_HX_REQUEST="true")
    assert bad.status_code == 200 and bad.context["line_form"].errors
    item = deal.line_items.first()
    rep_client.post(
        reverse("sales:line_item_update", args=[item.pk]),
        {"quantity": "3", "unit_price": "200", "discount_percent": "0"},
        HTTP_HX_REQUEST="true",
    )
    bad = rep_client.post(
        reverse("sales:line_item_update", args=[item.pk]),
        {"quantity": "x"},
        HTTP_HX_REQUEST="true",
    )
    assert bad.status_code == 200
    item.refresh_from_db()
    assert item.quantity == 3
    for _ in range(20):
        services.line_item_add(opportunity=deal, user=rep, product=product)
        Activity.objects.create(
            kind="note",
            summary="x",
            occurred_at=timezone.now(),
            content_type_id=Activity.objects.first().content_type_id,
            object_id=deal.pk,
        )
    # Whether the deal has open tasks and meetings, and whether the user may change it, are one
    # query (the record page's probes); the empty parts are not read.
    with django_assert_max_num_queries(13):
        assert rep_client.get(deal.get_absolute_url()).status_code == 200


def test_win_from_the_page_twice_makes_one_order_and_one_plan(
    rep_client, deal, product, django_capture_on_commit_callbacks
):
    services.line_item_add(opportunity=deal, user=deal.owner, product=product)
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            response = rep_client.post(reverse("sales:opportunity_win", args=[deal.pk]))
        assert response.status_code == 302
    assert Order.objects.count() == 1 and OrderLine.objects.count() == 1
    assert OnboardingPlan.objects.count() == 1
    page = rep_client.get(deal.get_absolute_url()).content.decode()
    assert "Onboarding plan" in page


def test_quote_page_and_status(rep_client, rep, deal, product):
    services.line_item_add(opportunity=deal, user=rep, product=product)
    response = rep_client.post(reverse("sales:quote_create", args=[deal.pk]))
    quote = Quote.objects.get()
    assert response["Location"] == quote.get_absolute_url()
    page = rep_client.get(quote.get_absolute_url()).content.decode()
    assert quote.number in page and "sales/quote.css" in page and "Platform licence" in page
    rep_client.post(reverse("sales:quote_status", args=[quote.pk]), {"status": "accepted"})
    quote.refresh_from_db()
    assert quote.status == "draft"  # not allowed straight from draft
    rep_client.post(reverse("sales:quote_status", args=[quote.pk]), {"status": "sent"})
    quote.refresh_from_db()
    assert quote.status == "sent"


def test_forecast_for_a_manager_against_quota(manager_client, rep, rep2, other_rep):
    today = timezone.localdate()
    month = today.replace(day=1)
    QuotaFactory(owner=rep, period_start=month, amount=Decimal("1000"))
    QuotaFactory(owner=rep2, period_start=month, amount=Decimal("1000"))
    won = OpportunityFactory(owner=rep, amount=Decimal("500"))
    services.opportunity_close_won(opportunity=won, user=rep)
    OpportunityFactory(
        owner=rep2,
        amount=Decimal("800"),
        forecast_category="commit",
        stage=stage_named("Negotiation"),  # 70 %
        probability=70,
        expected_close_date=today,
    )
    OpportunityFactory(owner=other_rep, amount=Decimal("9999"), expected_close_date=today)
    response = manager_client.get(reverse("sales:forecast"), {"year": today.year})
    forecast = response.context["forecast"]
    assert {r.username for r in forecast.reps} == {"rep", "rep2"}
    rep_cell = forecast.cell(rep.pk, month)
    assert rep_cell.won == Decimal("500") and rep_cell.attainment == 50.0
    team = forecast.cell(None, month)
    assert team.quota == Decimal("2000") and team.commit == Decimal("800")
    assert team.weighted == Decimal("560.00") and team.pipeline == Decimal("800")
    quarter = manager_client.get(reverse("sales:forecast"), {"by": "quarter", "year": "x"})
    assert quarter.status_code == 200


def test_rep_forecast_shows_only_themselves(rep_client, rep):
    response = rep_client.get(reverse("sales:forecast"), {"rep": UserFactory().pk})
    assert response.context["forecast"].reps == [rep]


def test_onboarding_board_and_finishing_from_the_page(rep_client, rep, deal, win):
    win(deal, rep)
    plan = OnboardingPlan.objects.get()
    response = rep_client.get(reverse("sales:onboarding_board"))
    assert [p.pk for p in response.context["object_list"]] == [plan.pk]
    row = response.context["object_list"][0]
    assert row.items_done == 0 and row.items_overdue == 0
    for task in plan.tasks.all():
        rep_client.post(reverse("sales:onboarding_item_done", args=[plan.pk, task.pk]))
    plan.refresh_from_db()
    deal.account.refresh_from_db()
    assert plan.status == "done" and deal.account.lifecycle_stage == "customer"


@pytest.mark.parametrize("rows", [3, 60])
def test_onboarding_and_order_lists_keep_their_query_count(
    rows, rep_client, rep, django_assert_max_num_queries
):
    for _ in range(rows):
        deal = OpportunityFactory(owner=rep, account=AccountFactory(owner=rep))
        services.opportunity_close_won(opportunity=deal, user=rep)
        services.onboarding_plan_create(opportunity=deal)
    for url in ("sales:onboarding_board", "sales:order_list"):
        with django_assert_max_num_queries(10):
            response = rep_client.get(reverse(url))
        assert len(response.context["object_list"]) == min(rows, 50)


def test_order_import_page(manager_client, rep):
    from django.core.files.uploadedfile import SimpleUploadedFile

    AccountFactory(domain="acme.example", owner=rep)
    upload = SimpleUploadedFile(
        "orders.csv",
        b"account_domain,order_date,amount\nacme.example,2025-01-02,100\nnope.example,2025-01-02,1\n",
    )
    response = manager_client.post(reverse("sales:order_import"), {"file": upload})
    assert response.status_code == 200
    result = response.context["result"]
    assert result.created == 1 and result.errors[0][0] == 3


def test_global_search_finds_deals_for_reps_only(rep_client, deal):
    response = rep_client.get(reverse("search"), {"q": deal.name})
    assert deal.name in response.content.decode()


def test_account_panel_lists_the_accounts_deals(rep_client, deal):
    body = rep_client.get(deal.account.get_absolute_url()).content.decode()
    assert deal.name in body and "Opportunities" in body


def test_manager_sets_a_quota_for_the_team_only(manager_client, rep, other_rep):
    from sales.models import Quota

    url = reverse("sales:forecast")
    response = manager_client.post(
        url,
        {"owner": rep.pk, "period_kind": "quarter", "period_start": "2026-05-17", "amount": "9000"},
    )
    assert response.status_code == 302
    quota = Quota.objects.get()
    assert (quota.owner, quota.period_start.isoformat(), quota.amount) == (
        rep,
        "2026-04-01",
        Decimal("9000"),
    )
    bad = manager_client.post(
        url, {"owner": other_rep.pk, "period_kind": "year", "period_start": "x", "amount": "-1"}
    )
    assert bad.status_code == 200
    assert {"owner", "period_kind", "period_start", "amount"} <= set(
        bad.context["quota_form"].errors
    )
    assert Quota.objects.count() == 1


def test_reps_cannot_set_quotas(rep_client, rep):
    response = rep_client.post(
        reverse("sales:forecast"),
        {"owner": rep.pk, "period_kind": "month", "period_start": "2026-05-01", "amount": "1"},
    )
    assert response.status_code == 404


def test_home_shows_the_reps_pipeline_and_not_to_agents(rep_client, deal, client, agent):
    body = rep_client.get(reverse("home")).content.decode()
    assert "My pipeline" in body and "1 open deals" in body.replace("<strong>", "").replace(
        "</strong>", ""
    )
    client.force_login(agent)
    assert "My pipeline" not in client.get(reverse("home")).content.decode()
