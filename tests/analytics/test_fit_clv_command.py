"""`manage.py fit_clv`: a transaction file, the CRM's orders, and every kind of bad input."""

import builtins
import datetime as dt
import json
from decimal import Decimal

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from analytics.choices import RFMSegment
from analytics.clv import fit_transactions
from analytics.clv.orders import fit_from_orders
from analytics.models import CLVFit, CustomerValue
from crm.models import Account

CSV_ARGS = ["--customer-col", "customer", "--date-col", "date", "--amount-col", "amount"]


def run(*args):
    from io import StringIO

    out = StringIO()
    call_command("fit_clv", *args, stdout=out)
    return json.loads(out.getvalue())


def test_csv_fit_prints_both_models_parameters(cdnow_csv):
    result = run("--csv", str(cdnow_csv), *CSV_ARGS, "--observation-end", "1997-09-30")
    assert set(result) == {"bgnbd", "gamma_gamma", "customers"}
    assert result["customers"] == 2357
    assert {k: round(v, 3) for k, v in result["bgnbd"].items()} == {
        "r": 0.243,
        "alpha": 4.414,
        "a": 0.793,
        "b": 2.426,
    }
    assert {k: round(v, 2) for k, v in result["gamma_gamma"].items()} == {
        "p": 6.25,
        "q": 3.74,
        "v": 15.44,
    }


def test_csv_time_unit_days_scales_alpha_only(cdnow_csv):
    weeks = run("--csv", str(cdnow_csv), *CSV_ARGS, "--observation-end", "1997-09-30")
    days = run(
        "--csv", str(cdnow_csv), *CSV_ARGS, "--observation-end", "1997-09-30", "--time-unit", "days"
    )
    assert days["bgnbd"]["alpha"] == pytest.approx(7 * weeks["bgnbd"]["alpha"], rel=1e-4)
    assert days["bgnbd"]["r"] == pytest.approx(weeks["bgnbd"]["r"], rel=1e-4)


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(CommandError, match="cannot open .*missing.csv"):
        run("--csv", str(tmp_path / "missing.csv"), *CSV_ARGS)


def test_missing_column_names_the_columns_there_are(tmp_path):
    path = tmp_path / "t.csv"
    path.write_text("client;day;value\n1;2024-01-01;3\n")
    with pytest.raises(CommandError) as error:
        run("--csv", str(path), *CSV_ARGS)
    message = str(error.value)
    assert "missing customer column 'customer'" in message
    assert "the columns are: client, day, value" in message


def test_bad_rows_are_listed_with_line_numbers_first_20_only(tmp_path):
    lines = ["customer,date,amount", "1,2024-01-01,10", "1,2024-31-01,x", ",2024-02-01,3"]
    lines += [f"{i},not a date,1" for i in range(30)]
    path = tmp_path / "t.csv"
    path.write_text("\n".join(lines))
    with pytest.raises(CommandError) as error:
        run("--csv", str(path), *CSV_ARGS)
    message = str(error.value)
    assert "32 bad row(s)" in message
    assert (
        "row 3: date '2024-31-01' is not a date (use YYYY-MM-DD); amount 'x' is not a number"
        in message
    )
    assert "row 4: empty customer" in message
    assert "row 22:" in message and "row 23:" not in message
    assert "... and 12 more" in message


def test_unfittable_data_and_bad_options_are_clear_errors(tmp_path, cdnow_csv):
    path = tmp_path / "t.csv"
    path.write_text("customer,date,amount\n1,2024-01-01,10\n2,2024-01-02,5\n")
    with pytest.raises(CommandError, match="cannot fit .*repeat purchase"):
        run("--csv", str(path), *CSV_ARGS)
    with pytest.raises(CommandError, match="--csv needs --date-col, --amount-col"):
        run("--csv", str(path), "--customer-col", "customer")
    with pytest.raises(CommandError, match="--observation-end '1997-02-30' is not a date"):
        run("--csv", str(cdnow_csv), *CSV_ARGS, "--observation-end", "1997-02-30")
    with pytest.raises(CommandError, match="no transactions on or before"):
        run("--csv", str(cdnow_csv), *CSV_ARGS, "--observation-end", "1990-01-01")
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(CommandError, match="is empty"):
        run("--csv", str(empty), *CSV_ARGS)


def test_without_sales_orders_the_command_says_so(monkeypatch, db):
    real_import = builtins.__import__

    def no_sales(name, *args, **kwargs):
        if name == "sales.models":
            raise ImportError("no sales.models")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sales)
    with pytest.raises(CommandError, match="no orders table yet"):
        run()


@pytest.fixture
def cdnow_orders(db, cdnow):
    """The first 400 CDNOW customers as accounts with their purchases as orders."""
    Order = pytest.importorskip("sales.models").Order
    customers, dates, amounts = cdnow
    keep = customers <= 400
    customers, dates, amounts = customers[keep], dates[keep], amounts[keep]
    accounts = Account.objects.bulk_create(
        Account(name=f"CDNOW customer {n}") for n in range(1, 401)
    )
    account_of = {n: account.pk for n, account in enumerate(accounts, start=1)}
    Order.objects.bulk_create(
        Order(
            account_id=account_of[int(c)],
            order_date=d.astype(dt.date),
            amount=Decimal(f"{a:.2f}"),
            currency="EUR",
        )
        for c, d, a in zip(customers, dates, amounts, strict=True)
    )
    mapped = np.array([account_of[int(c)] for c in customers])
    return mapped, dates, amounts


def test_orders_fit_stores_parameters_and_a_value_per_account(
    cdnow_orders, settings, django_assert_max_num_queries
):
    settings.DEFAULT_CURRENCY = "EUR"
    end = dt.date(1997, 9, 30)
    expected = fit_transactions(*cdnow_orders, observation_end=end, time_unit="weeks")

    # One grouped read, the fit row, one delete, and the inserts in batches (up to 2,000 rows):
    # 400 accounts, never one a row.
    with django_assert_max_num_queries(14):
        fit = fit_from_orders(observation_end=end, time_unit="weeks")

    assert fit.customers == 400 == CustomerValue.objects.count()
    assert fit.observation_end == end
    for name, value in expected.bgnbd.params.as_dict().items():
        assert fit.parameters["bgnbd"][name] == pytest.approx(value, rel=1e-6)
    for name, value in expected.gamma_gamma.params.as_dict().items():
        assert fit.parameters["gamma_gamma"][name] == pytest.approx(value, rel=1e-6)

    first = Account.objects.get(name="CDNOW customer 1").customer_value
    # Customer 1: 1997-01-01, -01-18 and -08-02 in the calibration period (29.33, 29.73, 14.96).
    assert first.frequency == 2
    assert first.recency == pytest.approx(213 / 7)
    age = first.T
    assert age == pytest.approx(272 / 7)
    assert first.monetary == Decimal("22.35")
    assert first.historical_value == Decimal("74.02")
    assert 0 < first.p_alive < 1
    assert first.expected_value_12m > 0
    assert first.rfm_segment in RFMSegment.values
    assert first.currency == "EUR"

    # A refit replaces the values and keeps the history of fits.
    again = fit_from_orders(observation_end=end, time_unit="weeks")
    assert CLVFit.objects.count() == 2
    assert CustomerValue.objects.count() == 400
    assert set(CustomerValue.objects.values_list("fit", flat=True)) == {again.pk}


def test_command_without_csv_fits_the_orders(cdnow_orders, settings):
    settings.DEFAULT_CURRENCY = "EUR"
    result = run("--observation-end", "1997-09-30")
    assert result["customers"] == 400
    assert CLVFit.objects.get().parameters["bgnbd"] == result["bgnbd"]


def test_orders_in_another_currency_are_left_out(db, settings):
    Order = pytest.importorskip("sales.models").Order
    settings.DEFAULT_CURRENCY = "EUR"
    account = Account.objects.create(name="Dollar buyer")
    Order.objects.create(
        account=account, order_date=dt.date(2024, 1, 1), amount=Decimal("10"), currency="USD"
    )
    with pytest.raises(CommandError, match="with an exchange rate into EUR"):
        run("--observation-end", "2024-06-30")


def test_customer_values_follow_deal_visibility(
    cdnow_orders, settings, rep, rep2, manager, agent, admin
):
    settings.DEFAULT_CURRENCY = "EUR"
    fit_from_orders(observation_end=dt.date(1997, 9, 30))
    Account.objects.filter(name="CDNOW customer 1").update(owner=rep)
    Account.objects.filter(name="CDNOW customer 2").update(owner=rep2)
    assert list(CustomerValue.objects.visible_to(rep).values_list("account__name", flat=True)) == [
        "CDNOW customer 1"
    ]
    assert CustomerValue.objects.visible_to(manager).count() == 2
    assert CustomerValue.objects.visible_to(admin).count() == 400
    assert CustomerValue.objects.visible_to(agent).count() == 0
