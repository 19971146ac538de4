from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from sales import services
from sales.choices import QuoteStatus
from sales.models import Order, OrderLine
from tests.factories.crm import AccountFactory

pytestmark = pytest.mark.django_db


def test_quotes_are_numbered_without_gaps_and_snapshot_the_lines(deal, rep, product):
    with pytest.raises(ValidationError):
        services.quote_create(opportunity=deal, user=rep)  # no line items yet
    item = services.line_item_add(opportunity=deal, user=rep, product=product, quantity=2)
    first = services.quote_create(opportunity=deal, user=rep)
    second = services.quote_create(opportunity=deal, user=rep)
    year = first.created_at.year
    assert first.number == f"Q-{year}-00001" and second.number == f"Q-{year}-00002"
    services.line_item_update(item=item, user=rep, quantity=5)
    first.refresh_from_db()
    assert first.lines[0]["quantity"] == 2 and first.one_off_total == Decimal("400.00")


def test_quote_status_follows_allowed_transitions(deal, rep, product):
    services.line_item_add(opportunity=deal, user=rep, product=product)
    quote = services.quote_create(opportunity=deal, user=rep)
    with pytest.raises(ValidationError):
        services.quote_set_status(quote=quote, status=QuoteStatus.ACCEPTED, user=rep)
    quote = services.quote_set_status(quote=quote, status=QuoteStatus.SENT, user=rep)
    assert quote.sent_at is not None
    quote = services.quote_set_status(quote=quote, status=QuoteStatus.ACCEPTED, user=rep)
    assert quote.status == QuoteStatus.ACCEPTED and quote.decided_at is not None
    with pytest.raises(ValidationError):
        services.quote_set_status(quote=quote, status=QuoteStatus.DECLINED, user=rep)
    with pytest.raises(ValidationError):
        services.quote_set_status(quote=quote, status="bogus", user=rep)


CSV = """external_ref,account_domain,account_name,order_date,amount,currency,product_sku,quantity,billing
A-1,acme.example,,2025-03-01,1200.00,EUR,PLAT,2,
A-2,,Globex,2025-04-01,99.50,EUR,,1,monthly
A-3,nowhere.example,,2025-04-01,10,EUR,,1,
A-4,acme.example,,yesterday,10,EUR,,1,
A-5,acme.example,,2025-05-01,ten,EUR,NOPE,0,weekly
"""


def test_order_import_keeps_good_rows_and_reports_bad_ones_by_line(rep, product):
    acme = AccountFactory(domain="acme.example", owner=rep)
    AccountFactory(name="Globex", domain="globex.example")
    result = services.orders_import(file=CSV.encode())
    assert result.created == 2
    lines = [line for line, _ in result.errors]
    assert lines == [4, 5, 6]
    assert "nowhere.example" in result.errors[0][1]
    assert "order_date" in result.errors[1][1]
    order = Order.objects.get(external_ref="A-1")
    assert order.account == acme and order.amount == Decimal("1200.00") and order.owner == rep
    line = OrderLine.objects.get(order=order)
    assert line.product == product and line.quantity == 2
    assert Order.objects.get(external_ref="A-2").mrr == Decimal("99.50")
    # Importing the same file again adds nothing
    again = services.orders_import(file=CSV.encode())
    assert again.created == 0 and again.skipped == 2


def test_order_import_without_the_needed_columns_says_so():
    result = services.orders_import(file=b"foo,bar\n1,2\n")
    assert result.errors == [(1, "The header row must name at least order_date and amount.")]


def test_import_orders_command(tmp_path, rep, product, capsys):
    AccountFactory(domain="acme.example", owner=rep)
    path = tmp_path / "orders.csv"
    path.write_text(CSV)
    with pytest.raises(SystemExit):
        call_command("import_orders", str(path))
    out = capsys.readouterr()
    assert "1 created" in out.out and "line 3: No account named" in out.err
    assert Order.objects.count() == 1
