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


# The PDF ---------------------------------------------------------------------------------------


def test_the_quote_pdf_is_a_pdf_with_its_number_and_only_for_who_sees_the_deal(
    deal, rep, other_rep, product, client
):
    services.line_item_add(opportunity=deal, user=rep, product=product, tax_rate=D("19"))
    quote = services.quote_create(opportunity=deal, user=rep)
    url = reverse("sales:quote_pdf", args=[quote.pk])
    client.force_login(other_rep)
    assert client.get(url).status_code == 404
    client.force_login(rep)
    answer = client.get(url)
    assert answer.status_code == 200 and answer["Content-Type"] == "application/pdf"
    assert answer.content.startswith(b"%PDF") and quote.number.encode() in answer.content
    assert "inline" in answer["Content-Disposition"]
    download = client.get(url, {"download": 1})
    assert download["Content-Disposition"] == f'attachment; filename="Quote-{quote.number}.pdf"'


def test_the_pdf_is_made_without_the_unicode_font_too(deal, rep, product, monkeypatch):
    from sales import documents

    deal.account.name = "Ωmega Ärzte 株式会社"
    deal.account.save()
    services.line_item_add(opportunity=deal, user=rep, product=product)
    services.line_item_add(opportunity=deal, user=rep, product=product, discount_percent=D("5"))
    quote = services.quote_create(opportunity=deal, user=rep)
    monkeypatch.setattr(documents, "_font_dir", lambda: None)
    content = documents.quote_pdf(quote)
    assert content.startswith(b"%PDF") and quote.number.encode() in content


# Sending by email ------------------------------------------------------------------------------


def _sent_quote(deal, rep, product, client):
    services.line_item_add(opportunity=deal, user=rep, product=product, tax_rate=D("20"))
    quote = services.quote_create(opportunity=deal, user=rep)
    client.force_login(rep)
    answer = client.post(
        reverse("sales:quote_send", args=[quote.pk]),
        {"to_email": "jana@acme.example", "subject": "Our offer", "message": "Hello Jana"},
    )
    assert answer.status_code == 302, answer.content.decode()[:2000]
    quote.refresh_from_db()
    return quote


def test_sending_queues_an_email_with_the_pdf_made_at_send_time(
    deal, rep, product, client, mailoutbox
):
    from crm.models import Activity, OutboundEmail
    from crm.services.outbox import outbox_send_queued

    client.force_login(rep)
    services.line_item_add(opportunity=deal, user=rep, product=product)
    draft = services.quote_create(opportunity=deal, user=rep)
    deal_page = client.get(deal.get_absolute_url()).content.decode()
    assert reverse("sales:quote_send", args=[draft.pk]) in deal_page
    form = client.get(reverse("sales:quote_send", args=[draft.pk])).content.decode()
    assert 'value="jana@acme.example"' in form and f"Quote {draft.number}" in form
    quote = _sent_quote(deal, rep, product, client)  # a newer quote, sent
    assert quote.status == "sent" and quote.sent_at and quote.sent_to == "jana@acme.example"
    assert len(quote.public_token) >= 40
    email = OutboundEmail.objects.get()
    assert email.attachments == [{"kind": "sales.quote_pdf", "ref": {"quote_id": quote.pk}}]
    assert f"/q/{quote.public_token}/" in email.body_text and "Hello Jana" in email.body_text
    assert Activity.objects.filter(summary__startswith=f"Quote {quote.number} sent to").exists()
    # The older draft is replaced: it cannot be sent any more.
    stale = client.post(
        reverse("sales:quote_send", args=[draft.pk]),
        {"to_email": "jana@acme.example", "subject": "Old", "message": ""},
    )
    assert stale.status_code == 200 and "replaces this one" in stale.content.decode()

    assert outbox_send_queued() == 1
    (message,) = mailoutbox
    (filename, content, mimetype) = message.attachments[0]
    assert filename == f"Quote-{quote.number}.pdf" and mimetype == "application/pdf"
    assert content.startswith(b"%PDF") and quote.number.encode() in content


def test_a_quote_whose_record_is_gone_fails_its_email_instead_of_retrying(
    deal, rep, product, client
):
    from crm.choices import OutboxStatus
    from crm.models import OutboundEmail
    from crm.services.outbox import outbox_send_queued

    quote = _sent_quote(deal, rep, product, client)
    Quote.objects.filter(pk=quote.pk).delete()
    assert outbox_send_queued() == 0
    email = OutboundEmail.objects.get()
    assert email.status == OutboxStatus.FAILED and "no longer exists" in email.last_error


def test_quotes_go_only_to_contacts_who_agreed_to_service_email(deal, rep, product, client):
    from crm.models import OutboundEmail
    from tests.factories.crm import ContactFactory

    ContactFactory(account=deal.account, email="noconsent@acme.example", email_consent=False)
    services.line_item_add(opportunity=deal, user=rep, product=product)
    quote = services.quote_create(opportunity=deal, user=rep)
    client.force_login(rep)
    url = reverse("sales:quote_send", args=[quote.pk])
    for address, says in [
        ("noconsent@acme.example", "has not agreed to service email"),
        ("stranger@else.example", "add them first"),
        ("not an address", "Enter a valid email address"),
    ]:
        answer = client.post(url, {"to_email": address, "subject": "Offer", "message": ""})
        assert answer.status_code == 200 and says in answer.content.decode()
    assert not OutboundEmail.objects.exists()
    quote.refresh_from_db()
    assert quote.status == "draft"


def test_only_who_may_change_the_deal_sends_its_quote(deal, rep, other_rep, product, client):
    services.line_item_add(opportunity=deal, user=rep, product=product)
    quote = services.quote_create(opportunity=deal, user=rep)
    client.force_login(other_rep)
    url = reverse("sales:quote_send", args=[quote.pk])
    assert client.get(url).status_code == 404
    post = client.post(url, {"to_email": "jana@acme.example", "subject": "x", "message": ""})
    assert post.status_code == 404


# The customer's link ---------------------------------------------------------------------------


def test_the_customer_accepts_through_the_link_with_their_name(deal, rep, product, client):
    from crm.models import Activity

    quote = _sent_quote(deal, rep, product, client)
    client.logout()
    url = reverse("sales:quote_public", args=[quote.public_token])
    page = client.get(url).content.decode()
    assert quote.number in page and "Accept the quote" in page and "csrfmiddlewaretoken" in page
    pdf = client.get(url, {"pdf": 1})
    assert pdf.content.startswith(b"%PDF")
    unsigned = client.post(url, {"name": "  ", "decision": "accept"})
    assert unsigned.status_code == 200 and "Accept the quote" in unsigned.content.decode()
    answer = client.post(url, {"name": "Jana  Novak", "decision": "accept"})
    assert answer.status_code == 302
    quote.refresh_from_db()
    assert (quote.status, quote.decided_by_name) == ("accepted", "Jana Novak")
    assert quote.decided_at is not None
    assert Activity.objects.filter(
        summary=f"Quote {quote.number} accepted online by Jana Novak"
    ).exists()
    again = client.get(url).content.decode()
    assert "Accepted by Jana Novak" in again and "Accept the quote" not in again
    late = client.post(url, {"name": "Someone", "decision": "decline"})
    assert "answered already" in late.content.decode()
    quote.refresh_from_db()
    assert quote.status == "accepted"


def test_the_customer_declines(deal, rep, product, client):
    quote = _sent_quote(deal, rep, product, client)
    client.logout()
    url = reverse("sales:quote_public", args=[quote.public_token])
    client.post(url, {"name": "Jana", "decision": "decline"})
    quote.refresh_from_db()
    assert (quote.status, quote.decided_by_name) == ("declined", "Jana")


def test_expired_and_superseded_quotes_cannot_be_accepted(deal, rep, product, client):
    from datetime import timedelta

    from django.utils import timezone

    quote = _sent_quote(deal, rep, product, client)
    Quote.objects.filter(pk=quote.pk).update(valid_until=timezone.localdate() - timedelta(days=1))
    client.logout()
    url = reverse("sales:quote_public", args=[quote.public_token])
    assert "has expired" in client.get(url).content.decode()
    client.post(url, {"name": "Jana", "decision": "accept"})
    quote.refresh_from_db()
    assert quote.status == "sent"

    Quote.objects.filter(pk=quote.pk).update(valid_until=timezone.localdate())
    services.quote_create(opportunity=deal, user=rep)
    page = client.get(url).content.decode()
    assert "A newer quote replaces this one" in page and "Accept the quote" not in page
    client.post(url, {"name": "Jana", "decision": "accept"})
    quote.refresh_from_db()
    assert quote.status == "sent"


@pytest.mark.parametrize("token", ["nope", "x" * 43, "x" * 80])
def test_a_bad_link_answers_404(deal, rep, product, client, token):
    _sent_quote(deal, rep, product, client)
    client.logout()
    assert client.get(f"/q/{token}/").status_code == 404
    assert client.post(f"/q/{token}/", {"name": "A", "decision": "accept"}).status_code == 404


def test_a_draft_has_no_link(deal, rep, product):
    services.line_item_add(opportunity=deal, user=rep, product=product)
    quote = services.quote_create(opportunity=deal, user=rep)
    assert quote.public_token is None
