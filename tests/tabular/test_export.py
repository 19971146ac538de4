"""Exports from every list page: the rows the user sees with the list's filters, as CSV and XLSX,
formula-safe, in a bounded number of queries."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from crm import registry
from crm.models import Account
from tests.factories.crm import AccountFactory, ContactFactory
from tests.factories.leads import LeadFactory
from tests.factories.sales import OpportunityFactory
from tests.tabular.conftest import LIST_URLS, csv_table, export, make_records, xlsx_table

pytestmark = pytest.mark.django_db


def test_every_main_record_kind_is_registered():
    assert {k.name for k in registry.tabular.kinds()} >= set(LIST_URLS)


@pytest.mark.parametrize("kind", list(LIST_URLS))
@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
def test_export_of_each_kind_has_an_id_column_and_every_visible_row(
    admin_client_, admin, kind, fmt
):
    records = make_records(kind, admin)
    response = export(admin_client_, kind, fmt)
    assert response.status_code == 200
    table = csv_table(response) if fmt == "csv" else xlsx_table(response)
    assert table[0][0] == "id"
    ids = {int(row[0]) for row in table[1:]}
    assert {r.pk for r in records} <= ids
    assert f"{kind}-" in response["Content-Disposition"]


def test_export_follows_the_list_filters_and_sort(admin_client_, admin):
    AccountFactory(name="Zeta Logistics", industry="logistics")
    AccountFactory(name="Alpha Logistics", industry="logistics")
    AccountFactory(name="Software House", industry="software")
    table = csv_table(export(admin_client_, "accounts", industry="logistics", sort="name"))
    assert [row[1] for row in table[1:]] == ["Alpha Logistics", "Zeta Logistics"]


def test_a_rep_exports_only_their_own_leads(rep_client, rep, rep2):
    mine = LeadFactory(owner=rep, last_name="Mine")
    LeadFactory(owner=rep2, last_name="Theirs")
    table = csv_table(export(rep_client, "leads"))
    assert [int(row[0]) for row in table[1:]] == [mine.pk]


def test_a_rep_exports_only_their_own_deals(rep_client, rep, rep2):
    mine = OpportunityFactory(owner=rep)
    OpportunityFactory(owner=rep2)
    table = csv_table(export(rep_client, "opportunities"))
    assert [int(row[0]) for row in table[1:]] == [mine.pk]
    assert "amount" in table[0]


def test_agents_export_no_deals_amounts_or_subscriptions(agent_client, agent, rep):
    OpportunityFactory(owner=rep)
    assert export(agent_client, "opportunities").status_code == 404
    subscriptions = xlsx_table(export(agent_client, "subscriptions", "xlsx"))
    assert subscriptions[1:] == [] and "mrr" not in subscriptions[0]
    table = csv_table(export(agent_client, "tickets"))
    assert not {"amount", "mrr", "budget_amount", "probability"} & set(table[0])


def test_columns_a_role_may_not_see_are_left_out(rep, agent):
    deals = registry.tabular.get("opportunities")
    assert "amount" in [c.name for c in deals.columns_for(rep)]
    assert "amount" not in [c.name for c in deals.columns_for(agent)]
    assert "probability" not in [c.name for c in deals.columns_for(agent)]


def test_csv_and_xlsx_cells_are_formula_safe(admin_client_, admin):
    AccountFactory(name='=HYPERLINK("http://evil","x")', owner=admin)
    ContactFactory(last_name="+1 Danger", first_name="@SUM(A1)", owner=admin)
    table = csv_table(export(admin_client_, "accounts"))
    assert any(row[1] == '\'=HYPERLINK("http://evil","x")' for row in table)
    response = export(admin_client_, "contacts", "xlsx")
    import io

    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    sheet = book.worksheets[0]
    cells = [cell for row in sheet.iter_rows() for cell in row]
    assert all(cell.data_type != "f" for cell in cells)
    assert "@SUM(A1)" in [cell.value for cell in cells]
    account_book = xlsx_table(export(admin_client_, "accounts", "xlsx"))
    assert [row[1] for row in account_book[1:] if str(row[1]).startswith("=")] == [
        '=HYPERLINK("http://evil","x")'
    ]


def test_an_unknown_export_format_is_a_404(admin_client_):
    assert export(admin_client_, "accounts", "pdf").status_code == 404


@pytest.mark.parametrize("kind", list(LIST_URLS))
def test_export_query_count_does_not_grow_with_rows(admin_client_, admin, kind):
    make_records(kind, admin, count=2)
    export(admin_client_, kind)  # the catalog (crm.catalog) read and kept, as on a busy server
    with CaptureQueriesContext(connection) as few:
        csv_table(export(admin_client_, kind))
    make_records(kind, admin, count=12)
    export(admin_client_, kind)
    with CaptureQueriesContext(connection) as many:
        csv_table(export(admin_client_, kind))
    assert len(many) == len(few), [q["sql"][:120] for q in many]


def test_a_large_export_streams(admin_client_, admin):
    Account.objects.bulk_create(Account(name=f"Bulk {n}", owner=admin) for n in range(3000))
    response = export(admin_client_, "accounts")
    assert response.streaming
    assert len(csv_table(response)) == 3001


def test_the_products_page_lists_the_catalogue_in_a_fixed_number_of_queries(
    rep_client, django_assert_max_num_queries
):
    from django.urls import reverse

    from tests.factories.sales import ProductFactory

    ProductFactory.create_batch(3)
    rep_client.get(reverse("sales:product_list"))  # warm the session and the role caches
    ProductFactory.create_batch(20)
    with django_assert_max_num_queries(12):
        page = rep_client.get(reverse("sales:product_list"), {"billing": "one_off"})
    assert page.status_code == 200 and page.content.decode().count("SKU-") >= 23


def test_agents_have_no_products_page(agent_client):
    from django.urls import reverse

    assert agent_client.get(reverse("sales:product_list")).status_code == 404
