"""Customer-ready quotes: tax and discounts, seller and buyer details, numbering, the PDF,
sending with the PDF attached, and the customer's accept link."""

from decimal import Decimal

import pytest
from django.urls import reverse

from sales import services
from sales.models import Quote, SellerProfile
from sales.pricing import line_net, money, quote_figures
from tests.factories.sales import ProductFactory

pytestmark = pytest.mark.django_db

D = Decimal


# Arithmetic ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2.345", "2.35"),  # half up, not to even
        ("2.335", "2.34"),
        ("2.3449", "2.34"),
        ("-2.345", "-2.35"),  # halves away from zero
        ("0.005", "0.01"),
        ("10", "10.00"),
    ],
)
def test_money_rounds_half_up_to_cents(value, expected):
    assert money(D(value)) == D(expected)


@pytest.mark.parametrize(
    ("unit_price", "quantity", "discount", "net"),
    [
        ("100.00", 1, "0", "100.00"),
        ("100.00", 3, "10", "270.00"),
        ("19.99", 3, "12.5", "52.47"),  # 59.97 less 7.49625 → 7.50
        ("0.10", 1, "5", "0.09"),  # a 0.005 discount rounds up to 0.01
        ("33.33", 3, "33.33", "66.66"),  # 99.99 less 33.3267 → 33.33
        ("1.00", 1, "100", "0.00"),
    ],
)
def test_line_net_is_gross_less_the_discount_rounded_half_up(unit_price, quantity, discount, net):
    result = line_net(unit_price=D(unit_price), quantity=quantity, discount_percent=D(discount))
    assert result == D(net)


def _line(price, qty, discount="0", tax=None, billing="one_off", total=None):
    line = {
        "description": "x",
        "sku": "X",
        "quantity": qty,
        "unit_price": price,
        "discount_percent": discount,
        "billing": billing,
    }
    if tax is not None:
        line["tax_rate"] = tax
    if total is not None:
        line["total"] = total
    return line


@pytest.mark.parametrize(
    ("lines", "subtotal", "discount", "taxes", "grand"),
    [
        # one line, one rate
        (
            [_line("100.00", 2, "10", "20")],
            "200.00",
            "20.00",
            [("20", "180.00", "36.00")],
            "216.00",
        ),
        # two rates, tax per rate on the summed net amounts
        (
            [
                _line("10.00", 1, "0", "19"),
                _line("10.00", 1, "0", "7"),
                _line("5.55", 1, "0", "19"),
            ],
            "25.55",
            "0.00",
            [("7", "10.00", "0.70"), ("19", "15.55", "2.95")],  # 2.9545 → 2.95
            "29.20",
        ),
        # per-rate rounding: three lines of 0.05 at 10 % → tax on 0.15 = 0.015 → 0.02
        (
            [_line("0.05", 1, "0", "10")] * 3,
            "0.15",
            "0.00",
            [("10", "0.15", "0.02")],
            "0.17",
        ),
        # an old line without a tax rate is untaxed; its stored total is its net amount
        ([_line("99.99", 1, "10", None, total="89.99")], "99.99", "10.00", [], "89.99"),
        # zero-rate lines show no tax row
        ([_line("50.00", 2, "0", "0")], "100.00", "0.00", [], "100.00"),
    ],
)
def test_quote_totals_table(lines, subtotal, discount, taxes, grand):
    (totals,) = quote_figures(lines).totals
    assert totals.subtotal == D(subtotal)
    assert totals.discount == D(discount)
    assert [(r.rate, r.base, r.tax) for r in totals.taxes] == [
        (D(rate), D(base), D(tax)) for rate, base, tax in taxes
    ]
    assert totals.total == D(grand)
    assert totals.net + totals.tax == totals.total


def test_monthly_lines_are_summed_apart_from_one_off_lines():
    figures = quote_figures(
        [_line("100.00", 1, "0", "20"), _line("30.00", 2, "50", "20", billing="monthly")]
    )
    one_off, monthly = figures.totals
    assert (one_off.label, one_off.total) == ("One-off", D("120.00"))
    assert (monthly.label, monthly.net, monthly.total) == ("Monthly", D("30.00"), D("36.00"))


def test_a_new_line_takes_the_products_tax_rate_else_the_sellers_default(deal, rep, product):
    profile = SellerProfile.current()
    profile.default_tax_rate = D("19")
    profile.save()
    reduced = ProductFactory(sku="BOOK", price=D("10.00"), tax_rate=D("7"))
    default_line = services.line_item_add(opportunity=deal, user=rep, product=product)
    reduced_line = services.line_item_add(opportunity=deal, user=rep, product=reduced)
    chosen = services.line_item_add(opportunity=deal, user=rep, product=reduced, tax_rate=D("0"))
    assert (default_line.tax_rate, reduced_line.tax_rate, chosen.tax_rate) == (
        D("19"),
        D("7"),
        D("0"),
    )
    services.line_item_update(item=chosen, user=rep, tax_rate=D("5"))
    chosen.refresh_from_db()
    assert chosen.tax_rate == D("5")


def test_a_quote_keeps_the_lines_tax_and_shows_the_breakdown(deal, rep, product, client):
    services.line_item_add(
        opportunity=deal,
        user=rep,
        product=product,
        quantity=2,
        discount_percent=D("10"),
        tax_rate=D("20"),
    )
    quote = services.quote_create(opportunity=deal, user=rep)
    assert quote.lines[0]["tax_rate"] == "20.00"
    assert quote.one_off_total == D("360.00")  # net, before tax
    client.force_login(rep)
    page = client.get(quote.get_absolute_url()).content.decode()
    assert "Tax 20 % on 360.00" in page and "72.00" in page and "432.00" in page


def test_an_old_quote_without_tax_rates_still_matches_its_deals_lines(deal, rep, product, client):
    services.line_item_add(opportunity=deal, user=rep, product=product)
    quote = services.quote_create(opportunity=deal, user=rep)
    Quote.objects.filter(pk=quote.pk).update(
        lines=[{k: v for k, v in line.items() if k != "tax_rate"} for line in quote.lines]
    )
    client.force_login(rep)
    assert "Lines changed since quote" not in client.get(deal.get_absolute_url()).content.decode()
    assert client.get(quote.get_absolute_url()).status_code == 200


# Seller and buyer ------------------------------------------------------------------------------


def test_admins_edit_the_seller_profile_and_others_get_404(client, admin, rep, manager):
    url = reverse("sales:seller_profile")
    for user in (rep, manager):
        client.force_login(user)
        assert client.get(url).status_code == 404
        assert client.post(url, {"legal_name": "X"}).status_code == 404
    client.force_login(admin)
    assert client.get(url).status_code == 200
    bad = client.post(url, {"legal_name": "Acme", "quote_prefix": "A-1", "default_tax_rate": "120"})
    assert bad.status_code == 200 and "Letters and digits only" in bad.content.decode()
    answer = client.post(
        url,
        {
            "legal_name": "Seller Ltd",
            "address": "1 Main Street\nLondon",
            "tax_id": "GB123",
            "email": "sales@seller.example",
            "phone": "+44 20 0000",
            "payment_terms": "Net 30",
            "quote_footer": "Bank: IBAN GB00",
            "default_tax_rate": "20",
            "quote_prefix": "SL",
        },
    )
    assert answer.status_code == 302
    profile = SellerProfile.current()
    assert (profile.legal_name, profile.default_tax_rate, profile.quote_prefix) == (
        "Seller Ltd",
        D("20.00"),
        "SL",
    )


def test_a_quote_keeps_seller_and_buyer_as_they_were_and_numbers_with_the_prefix(
    deal, rep, product, client
):
    profile = SellerProfile.current()
    profile.legal_name, profile.tax_id, profile.payment_terms = "Seller Ltd", "GB123", "Net 30"
    profile.save()
    deal.account.billing_address = "Hauptstraße 1\nBerlin"
    deal.account.save()
    services.line_item_add(opportunity=deal, user=rep, product=product)
    first = services.quote_create(opportunity=deal, user=rep)
    profile.quote_prefix, profile.legal_name = "SL", "Renamed Ltd"
    profile.save()
    deal.account.billing_address = "Elsewhere 2"
    deal.account.save()
    second = services.quote_create(opportunity=deal, user=rep)
    year = first.created_at.year
    assert (first.number, second.number) == (f"Q-{year}-00001", f"SL-{year}-00002")
    first.refresh_from_db()
    assert first.seller["legal_name"] == "Seller Ltd" and first.seller["tax_id"] == "GB123"
    assert first.buyer == {
        "account_name": "Acme GmbH",
        "billing_address": "Hauptstraße 1\nBerlin",
        "contact_name": deal.primary_contact.full_name,
        "contact_email": "jana@acme.example",
    }
    client.force_login(rep)
    page = client.get(first.get_absolute_url()).content.decode()
    assert "Seller Ltd" in page and "Hauptstraße 1" in page and "Net 30" in page
    assert "Renamed Ltd" not in page and "Elsewhere 2" not in page
