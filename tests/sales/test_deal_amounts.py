"""A deal's amount, its product lines and its quotes agree: the lines decide the amount unless a
person set it by hand, a new quote shows on the deal page at once, and a quote keeps the lines
it was made from."""

from decimal import Decimal

import pytest
from django.urls import reverse

from sales import services
from sales.models import Opportunity, Quote
from tests.api.conftest import client_for

pytestmark = pytest.mark.django_db


def amount_of(deal) -> Decimal:
    return Opportunity.objects.get(pk=deal.pk).amount


def test_adding_changing_and_removing_lines_sets_the_amount(deal, rep, product, monthly_product):
    # given a deal whose amount someone typed before it had lines
    Opportunity.objects.filter(pk=deal.pk).update(amount=Decimal("9999"))
    # when lines are added: one-off 2 × 200, and 50/month less 10 % (twelve months counted)
    item = services.line_item_add(opportunity=deal, user=rep, product=product, quantity=2)
    assert amount_of(deal) == Decimal("400.00")
    monthly = services.line_item_add(
        opportunity=deal,
        user=rep,
        product=monthly_product,
        discount_percent=Decimal("10"),
    )
    assert amount_of(deal) == Decimal("400.00") + Decimal("45.00") * 12
    # a changed line changes the amount, with its discount applied
    services.line_item_update(item=item, user=rep, quantity=3, discount_percent=Decimal("50"))
    assert amount_of(deal) == Decimal("300.00") + Decimal("540.00")
    # a removed line leaves the amount
    services.line_item_remove(item=monthly, user=rep)
    refreshed = Opportunity.objects.get(pk=deal.pk)
    assert refreshed.amount == Decimal("300.00") == refreshed.lines_value
    assert not refreshed.amount_is_manual


def test_a_manual_amount_is_kept_until_reset_to_the_lines_total(deal, rep, product):
    services.line_item_add(opportunity=deal, user=rep, product=product)
    # a person sets another amount on a deal with lines: it becomes manual
    deal = services.opportunity_update(opportunity=deal, user=rep, amount=Decimal("150"))
    assert deal.amount == Decimal("150") and deal.amount_is_manual
    # line changes no longer move it
    services.line_item_add(opportunity=deal, user=rep, product=product)
    deal.refresh_from_db()
    assert deal.amount == Decimal("150") and deal.lines_value == Decimal("400.00")
    # back to the lines' total, which it follows again
    deal = services.opportunity_amount_from_lines(opportunity=deal, user=rep)
    assert deal.amount == Decimal("400.00") and not deal.amount_is_manual
    services.line_item_add(opportunity=deal, user=rep, product=product)
    assert amount_of(deal) == Decimal("600.00")
    # the amount's changes are in the field history
    amounts = [e.amount for e in deal.history_events.order_by("pgh_id")]
    assert Decimal("150") in amounts and amounts[-1] == Decimal("600.00")


def test_setting_the_lines_total_by_hand_is_not_manual(deal, rep, product):
    services.line_item_add(opportunity=deal, user=rep, product=product)
    deal = services.opportunity_update(opportunity=deal, user=rep, amount=Decimal("999"))
    deal = services.opportunity_update(opportunity=deal, user=rep, amount=Decimal("200.00"))
    assert not deal.amount_is_manual


def test_the_deal_page_shows_a_manual_amount_and_goes_back_to_the_lines(
    rep_client, rep, deal, product
):
    services.line_item_add(opportunity=deal, user=rep, product=product)
    edit = rep_client.post(
        reverse("sales:opportunity_edit", args=[deal.pk]),
        {
            "name": deal.name,
            "account": deal.account_id,
            "owner": rep.pk,
            "stage": deal.stage_id,
            "amount": "250",
            "currency": deal.currency,
            "probability": deal.probability,
            "forecast_category": deal.forecast_category,
        },
    )
    assert edit.status_code == 302
    deal.refresh_from_db()
    assert deal.amount == Decimal("250") and deal.amount_is_manual
    page = rep_client.get(deal.get_absolute_url()).content.decode()
    assert "manual amount" in page and "use the lines' total" in page
    assert "200.00" in page  # the lines' total beside the amount

    answer = rep_client.post(
        reverse("sales:opportunity_amount_from_lines", args=[deal.pk]), HTTP_HX_REQUEST="true"
    )
    body = answer.content.decode()
    assert answer.status_code == 200 and 'id="deal-amount" hx-swap-oob="true"' in body
    assert "manual amount" not in body
    deal.refresh_from_db()
    assert deal.amount == Decimal("200.00") and not deal.amount_is_manual


def test_line_changes_swap_in_the_amount_and_the_quote_button(rep_client, deal, product):
    # the first product, added inline, brings the amount and the "New quote" button with it
    response = rep_client.post(
        reverse("sales:line_item_add", args=[deal.pk]),
        {"product": product.pk, "quantity": 1},
        HTTP_HX_REQUEST="true",
    )
    body = response.content.decode()
    assert 'id="deal-amount" hx-swap-oob="true"' in body and "200.00" in body
    assert reverse("sales:quote_create", args=[deal.pk]) in body and "New quote" in body


def test_a_new_quote_appears_without_a_reload(rep_client, rep, deal, product):
    services.line_item_add(opportunity=deal, user=rep, product=product)
    response = rep_client.post(
        reverse("sales:quote_create", args=[deal.pk]), HTTP_HX_REQUEST="true"
    )
    quote = Quote.objects.get()
    body = response.content.decode()
    assert response.status_code == 200 and 'id="line-items"' in body
    assert f'Quote <a href="{quote.get_absolute_url()}">{quote.number}</a> drafted' in body
    # and on the deal page itself, with its total
    page = rep_client.get(deal.get_absolute_url()).content.decode()
    assert quote.number in page and "200.00" in page


def test_a_quote_keeps_its_lines_and_the_deal_says_when_they_changed(
    rep_client, rep, deal, product
):
    item = services.line_item_add(opportunity=deal, user=rep, product=product, quantity=2)
    quote = services.quote_create(opportunity=deal, user=rep)
    assert quote.one_off_total == Decimal("400.00") == amount_of(deal)
    page = rep_client.get(deal.get_absolute_url()).content.decode()
    assert "Lines changed since quote" not in page

    services.line_item_update(item=item, user=rep, quantity=5)
    quote.refresh_from_db()
    assert quote.one_off_total == Decimal("400.00") and quote.lines[0]["quantity"] == 2
    assert amount_of(deal) == Decimal("1000.00")
    page = rep_client.get(deal.get_absolute_url()).content.decode()
    assert f"Lines changed since quote {quote.number}" in page

    newer = services.quote_create(opportunity=deal, user=rep)
    assert newer.one_off_total == Decimal("1000.00")
    page = rep_client.get(deal.get_absolute_url()).content.decode()
    assert "Lines changed since quote" not in page


def test_the_api_reflects_a_manual_amount_and_resets_it(rep, deal, product):
    services.line_item_add(opportunity=deal, user=rep, product=product)
    api = client_for(rep)
    url = f"/api/v1/opportunities/{deal.pk}/"
    body = api.get(url).json()
    assert body["amount_is_manual"] is False and body["lines_value"] == "200.00"
    changed = api.patch(url, {"amount": "120.00"}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["amount"] == "120.00" and changed.json()["amount_is_manual"] is True
    reset = api.post(f"{url}amount-from-lines/", format="json")
    assert reset.status_code == 200, reset.content
    assert reset.json()["amount"] == "200.00" and reset.json()["amount_is_manual"] is False
