"""ISO 4217 validation, the dated exchange-rate table and its page, and conversion."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from crm.currencies import convert, normalize_currency
from crm.models import ExchangeRate
from crm.services.currencies import exchange_rate_set
from crm.tabular.columns import CellError, currency_code
from tests.factories.crm import AccountFactory

D = datetime.date


@pytest.fixture(autouse=True)
def _company_eur(settings):
    settings.COMPANY_CURRENCY = "EUR"


def test_only_active_iso_codes_are_accepted():
    assert normalize_currency(" usd ") == "USD"
    for bad in ("", "US", "XXX", "DEM", "EURO"):
        with pytest.raises(ValidationError):
            normalize_currency(bad)


def test_convert_uses_latest_rate_on_or_before_the_day(db, manager):
    exchange_rate_set(user=manager, currency="USD", valid_from=D(2026, 1, 1), rate="0.90")
    exchange_rate_set(user=manager, currency="USD", valid_from=D(2026, 3, 1), rate="0.80")

    assert convert(Decimal("100"), "USD", on=D(2025, 12, 31)) is None
    jan = convert(Decimal("100"), "USD", on=D(2026, 2, 28))
    assert (jan.amount, jan.rate, jan.rate_date) == (
        Decimal("90.00"),
        Decimal("0.9"),
        D(2026, 1, 1),
    )
    assert convert(Decimal("100"), "USD", on=D(2026, 3, 1)).amount == Decimal("80.00")
    same = convert(Decimal("12.34"), "EUR", on=D(2020, 1, 1))
    assert (same.amount, same.rate, same.rate_date) == (Decimal("12.34"), Decimal(1), None)
    assert convert(Decimal("1"), "GBP", on=D(2026, 6, 1)) is None


def test_company_currency_takes_no_rate(db, manager):
    with pytest.raises(ValidationError):
        exchange_rate_set(user=manager, currency="EUR", valid_from=D(2026, 1, 1), rate="1")


def test_manager_adds_and_deletes_a_rate(manager_client, manager):
    url = reverse("exchange_rate_list")
    response = manager_client.post(
        url, {"currency": "USD", "valid_from": "2026-01-01", "rate": "0.92"}
    )
    assert response.status_code == 302
    rate = ExchangeRate.objects.get()
    assert (rate.currency, rate.rate, rate.created_by) == ("USD", Decimal("0.92"), manager)

    bad = manager_client.post(url, {"currency": "EUR", "valid_from": "2026-01-01", "rate": "-1"})
    assert bad.status_code == 400
    assert ExchangeRate.objects.count() == 1

    assert manager_client.post(reverse("exchange_rate_delete", args=[rate.pk])).status_code == 302
    assert not ExchangeRate.objects.exists()


def test_csv_upload_keeps_good_lines_and_reports_bad_ones(manager_client):
    data = (
        b"currency,date,rate\n"
        b"USD,2026-01-01,0.92\n"
        b"XYZ,2026-01-01,1.1\n"
        b"GBP,2026-13-01,1.15\n"
        b"GBP,2026-01-01,abc\n"
        b"GBP,2026-01-01,1.17\n"
        b"EUR,2026-01-01,1\n"
        b"CHF,2026-01-01\n"
    )
    response = manager_client.post(
        reverse("exchange_rate_upload"),
        {"file": SimpleUploadedFile("rates.csv", data, content_type="text/csv")},
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "2 rates saved" in body
    for line in (3, 4, 5, 7, 8):
        assert f"Line {line}:" in body
    assert sorted(ExchangeRate.objects.values_list("currency", "rate")) == [
        ("GBP", Decimal("1.17")),
        ("USD", Decimal("0.92")),
    ]


def test_csv_upload_of_binary_is_refused_not_a_crash(manager_client):
    response = manager_client.post(
        reverse("exchange_rate_upload"),
        {"file": SimpleUploadedFile("rates.csv", b"\xff\xfe\x00bad", content_type="text/csv")},
    )
    assert response.status_code == 200
    assert "not UTF-8" in response.content.decode()


def test_list_is_paginated_with_fixed_queries(
    manager_client, manager, django_assert_max_num_queries
):
    ExchangeRate.objects.bulk_create(
        ExchangeRate(
            currency="USD",
            valid_from=D(2025, 1, 1) + datetime.timedelta(days=i),
            rate="0.9",
            created_by=manager,
        )
        for i in range(120)
    )
    with django_assert_max_num_queries(12):
        response = manager_client.get(reverse("exchange_rate_list"))
    assert response.status_code == 200
    assert len(response.context["page_obj"].object_list) == 50
    assert manager_client.get(reverse("exchange_rate_list") + "?page=3").status_code == 200


@pytest.mark.parametrize("who", ["rep_client", "agent_client"])
def test_reps_and_agents_get_404(request, who):
    client = request.getfixturevalue(who)
    assert client.get(reverse("exchange_rate_list")).status_code == 404
    upload = client.post(reverse("exchange_rate_upload"), {})
    assert upload.status_code == 404


def test_a_deal_in_an_unknown_currency_is_refused_on_the_form(rep_client):
    account = AccountFactory()
    response = rep_client.post(
        reverse("sales:opportunity_create"),
        {"name": "Rollout", "account": account.pk, "amount": "100", "currency": "XXX"},
    )
    assert response.status_code == 200
    assert "ISO 4217" in str(response.context["form"].errors["currency"])


def test_spreadsheet_currency_cells_are_iso_codes():
    assert currency_code(" usd") == "USD"
    assert currency_code("") == ""
    with pytest.raises(CellError):
        currency_code("DEM")
