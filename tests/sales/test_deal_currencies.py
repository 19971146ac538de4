"""Deals, their line items, quotes and orders are in the customer's currency: a product priced in
another currency is converted at today's rate when added (and the line says so), a missing rate
is a clear refusal with nothing saved, and changing a deal's currency re-prices its lines."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from crm.models import Account
from crm.services import customers
from crm.services.currencies import exchange_rate_set
from sales import services
from sales.models import Opportunity, OpportunityLineItem
from tests.api.conftest import client_for
from tests.factories.crm import AccountFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _company_eur(settings):
    settings.COMPANY_CURRENCY = "EUR"


@pytest.fixture
def usd_rate(admin):
    """1 USD = 0.80 EUR since ten days ago (an older rate of 0.90 shows the latest one counts)."""
    today = timezone.localdate()
    exchange_rate_set(
        user=admin, currency="USD", valid_from=today - dt.timedelta(days=40), rate="0.90"
    )
    exchange_rate_set(
        user=admin, currency="USD", valid_from=today - dt.timedelta(days=10), rate="0.80"
    )
    return today


@pytest.fixture
def usd_deal(deal):
    Opportunity.objects.filter(pk=deal.pk).update(currency="USD")
    deal.refresh_from_db()
    return deal


def test_a_eur_product_on_a_usd_deal_is_converted_at_todays_rate(usd_deal, rep, product, usd_rate):
    # Given a product listed at EUR 200 and 1 USD = 0.80 EUR today,
    # when it is added to a USD deal, its price is 200 / 0.80 = USD 250.00.
    item = services.line_item_add(opportunity=usd_deal, user=rep, product=product, quantity=2)

    item.refresh_from_db()
    assert item.unit_price == Decimal("250.00") and item.total == Decimal("500.00")
    assert (item.source_price, item.source_currency) == (Decimal("200.00"), "EUR")
    assert item.exchange_rate == Decimal("1.25") and item.converted_on == usd_rate
    assert item.conversion_note == f"EUR 200.00 at 1.25 on {usd_rate:%Y-%m-%d}"
    usd_deal.refresh_from_db()
    assert usd_deal.amount == Decimal("500.00") and usd_deal.currency == "USD"


def test_a_price_typed_on_the_line_is_in_the_deal_currency(usd_deal, rep, product, usd_rate):
    item = services.line_item_add(
        opportunity=usd_deal, user=rep, product=product, unit_price=Decimal("240")
    )
    assert item.unit_price == Decimal("240") and not item.is_converted
    # a converted line whose price is then changed by hand is no longer converted
    converted = services.line_item_add(opportunity=usd_deal, user=rep, product=product)
    assert converted.is_converted
    services.line_item_update(item=converted, user=rep, unit_price=Decimal("260.00"))
    converted.refresh_from_db()
    assert converted.unit_price == Decimal("260.00") and not converted.is_converted


def test_without_a_rate_the_line_is_refused_and_nothing_saved(deal, rep, product, client):
    Opportunity.objects.filter(pk=deal.pk).update(currency="GBP")
    deal.refresh_from_db()
    with pytest.raises(ValidationError) as exc:
        services.line_item_add(opportunity=deal, user=rep, product=product)
    message = exc.value.message_dict["product"][0]
    assert "priced in EUR" in message and "No exchange rate for GBP" in message
    assert not OpportunityLineItem.objects.filter(opportunity=deal).exists()

    # The page says the same, and saves nothing.
    client.force_login(rep)
    response = client.post(
        reverse("sales:line_item_add", args=[deal.pk]),
        {"product": product.pk, "quantity": 1},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert "No exchange rate for GBP" in response.content.decode()
    assert not OpportunityLineItem.objects.filter(opportunity=deal).exists()


def test_the_deal_page_says_a_line_was_converted(usd_deal, rep, product, usd_rate, client):
    services.line_item_add(opportunity=usd_deal, user=rep, product=product)
    client.force_login(rep)
    page = client.get(usd_deal.get_absolute_url()).content.decode()
    assert f"Converted from EUR 200.00 at 1.25 on {usd_rate:%Y-%m-%d}" in page
    assert "Unit price (USD)" in page


def test_changing_the_currency_reprices_the_lines(usd_deal, rep, product, usd_rate):
    services.line_item_add(opportunity=usd_deal, user=rep, product=product)
    typed = services.line_item_add(
        opportunity=usd_deal, user=rep, product=product, unit_price=Decimal("100.00")
    )
    # Back to EUR: the converted line returns to its list price, the typed USD 100 becomes
    # EUR 80.00 (at 0.80), and the amount follows the lines.
    deal = services.opportunity_update(opportunity=usd_deal, user=rep, currency="EUR")
    lines = {i.pk: i for i in deal.line_items.all()}
    assert deal.currency == "EUR" and deal.amount == Decimal("280.00")
    assert [(i.unit_price, i.is_converted) for i in lines.values()] == [
        (Decimal("200.00"), False),
        (Decimal("80.00"), True),
    ]
    assert lines[typed.pk].conversion_note == f"USD 100.00 at 0.8 on {usd_rate:%Y-%m-%d}"


def test_changing_the_currency_without_a_rate_is_refused(usd_deal, rep, product, usd_rate):
    services.line_item_add(opportunity=usd_deal, user=rep, product=product)
    with pytest.raises(ValidationError) as exc:
        services.opportunity_update(opportunity=usd_deal, user=rep, currency="GBP")
    assert "No exchange rate for GBP" in exc.value.message_dict["currency"][0]
    deal = Opportunity.objects.get(pk=usd_deal.pk)
    assert deal.currency == "USD" and deal.amount == Decimal("250.00")
    assert deal.line_items.get().unit_price == Decimal("250.00")


def test_the_deal_edit_page_shows_the_refusal(usd_deal, rep, product, usd_rate, client):
    services.line_item_add(opportunity=usd_deal, user=rep, product=product)
    client.force_login(rep)
    response = client.post(
        reverse("sales:opportunity_edit", args=[usd_deal.pk]),
        {
            "name": usd_deal.name,
            "account": usd_deal.account_id,
            "owner": rep.pk,
            "stage": usd_deal.stage_id,
            "amount": "250.00",
            "currency": "GBP",
            "probability": usd_deal.probability,
            "forecast_category": usd_deal.forecast_category,
        },
    )
    assert response.status_code == 200
    assert "No exchange rate for GBP" in response.content.decode()
    assert Opportunity.objects.get(pk=usd_deal.pk).currency == "USD"


def test_a_quote_and_order_in_usd_for_a_eur_priced_product(
    usd_deal, rep, product, usd_rate, client
):
    services.line_item_add(opportunity=usd_deal, user=rep, product=product)
    quote = services.quote_create(opportunity=usd_deal, user=rep)
    assert quote.currency == "USD" and quote.one_off_total == Decimal("250.00")
    assert quote.lines[0]["unit_price"] == "250.00"

    client.force_login(rep)
    page = client.get(quote.get_absolute_url()).content.decode()
    assert "All amounts in USD" in page and "USD 250.00" in page
    pdf = client.get(reverse("sales:quote_pdf", args=[quote.pk]))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")

    services.opportunity_close_won(opportunity=usd_deal, user=rep)
    order = Opportunity.objects.get(pk=usd_deal.pk).order
    assert (order.currency, order.amount) == ("USD", Decimal("250.00"))
    assert order.lines.get().unit_price == Decimal("250.00")
    page = client.get(order.get_absolute_url()).content.decode()
    assert "Unit price (USD)" in page


def test_a_new_deal_takes_the_accounts_preferred_currency(rep, client):
    account = AccountFactory(owner=rep, currency="USD")
    deal = services.opportunity_create(user=rep, name="Expansion", account=account)
    assert deal.currency == "USD"
    plain = AccountFactory(owner=rep)
    assert services.opportunity_create(user=rep, name="B", account=plain).currency == "EUR"

    # The form leaves the currency empty for the account to decide.
    client.force_login(rep)
    response = client.post(
        reverse("sales:opportunity_create"),
        {
            "name": "From the form",
            "account": account.pk,
            "owner": rep.pk,
            "amount": "10",
            "forecast_category": "pipeline",
        },
    )
    assert response.status_code == 302, response.context["form"].errors
    assert Opportunity.objects.get(name="From the form").currency == "USD"


def test_account_currency_on_the_form_api_and_service(rep, client):
    account = AccountFactory(owner=rep)
    customers.account_update(account=account, user=rep, currency="usd")
    assert Account.objects.get(pk=account.pk).currency == "USD"
    with pytest.raises(ValidationError) as exc:
        customers.account_update(account=account, user=rep, currency="EURO")
    assert "currency" in exc.value.message_dict

    api = client_for(rep)
    answer = api.patch(f"/api/v1/accounts/{account.pk}/", {"currency": "jpy"}, format="json")
    assert answer.status_code == 200, answer.content
    assert answer.json()["currency"] == "JPY"
    answer = api.patch(f"/api/v1/accounts/{account.pk}/", {"currency": "XXX"}, format="json")
    assert answer.status_code == 400 and "currency" in answer.json()

    client.force_login(rep)
    page = client.get(reverse("account_edit", args=[account.pk])).content.decode()
    assert "Preferred currency" in page


def test_account_currency_in_the_spreadsheet_import_and_export(admin, admin_client_):
    from tests.tabular.conftest import csv_bytes, csv_table, export, import_file

    known = AccountFactory(owner=admin, name="Known")
    content = csv_bytes(
        [
            ["id", "name", "currency"],
            [known.pk, "Known", "usd"],
            ["", "New Ltd", "GBP"],
            ["", "Bad Ltd", "EURO"],
        ]
    )
    job = import_file(admin, "accounts", content)

    assert Account.objects.get(pk=known.pk).currency == "USD"
    assert Account.objects.get(name="New Ltd").currency == "GBP"
    assert not Account.objects.filter(name="Bad Ltd").exists()
    (error,) = job.row_errors.all()
    assert "EURO is not an ISO 4217 currency code" in error.reason
    table = csv_table(export(admin_client_, "accounts"))
    column = table[0].index("currency")
    assert {row[column] for row in table[1:]} >= {"USD", "GBP"}
