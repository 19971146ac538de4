"""For every record kind: export, edit a few cells (in the CSV, or in the XLSX with openpyxl),
import: exactly the edited rows change, the others are counted unchanged and left alone."""

import io

import openpyxl
import pytest

from crm import registry
from crm.choices import TabularImportStatus
from tests.tabular.conftest import csv_table, export, import_file, make_records

pytestmark = pytest.mark.django_db

#: kind → (column edited, new cell text, how to read the value back from the record)
EDITS = {
    "accounts": ("name", "Renamed Company", lambda r: r.name),
    "contacts": ("title", "Chief Technology Officer", lambda r: r.title),
    "leads": ("company_name", "Fresh Company", lambda r: r.company_name),
    "opportunities": ("next_step", "Send the contract", lambda r: r.next_step),
    "products": ("price", "250.00", lambda r: str(r.price)),
    "tickets": ("priority", "high", lambda r: r.priority),
    "subscriptions": ("seats", "12", lambda r: str(r.seats)),
}


def _state(kind, records):
    model = registry.tabular.get(kind).model
    fresh = model.objects.in_bulk([r.pk for r in records])
    return {pk: (EDITS[kind][2](r), getattr(r, "updated_at", None)) for pk, r in fresh.items()}


def _edit_csv(response, kind, edited_ids):
    column, value, _ = EDITS[kind]
    table = csv_table(response)
    index = table[0].index(column)
    for row in table[1:]:
        if int(row[0]) in edited_ids:
            row[index] = value
    out = io.StringIO()
    import csv

    csv.writer(out).writerows(table)
    return out.getvalue().encode("utf-8-sig")


def _edit_xlsx(response, kind, edited_ids):
    column, value, _ = EDITS[kind]
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    sheet = book.worksheets[0]
    header = [cell.value for cell in sheet[1]]
    index = header.index(column)
    for row in sheet.iter_rows(min_row=2):
        if int(row[0].value) in edited_ids:
            row[index].value = value
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.mark.parametrize("fmt", ["csv", "xlsx"])
@pytest.mark.parametrize("kind", list(EDITS))
def test_export_edit_import_changes_exactly_the_edited_rows(admin_client_, admin, kind, fmt):
    # Given three records exported, two of them edited in one cell
    records = make_records(kind, admin, count=3)
    edited = {records[0].pk, records[2].pk}
    response = export(admin_client_, kind, fmt)
    content = (_edit_csv if fmt == "csv" else _edit_xlsx)(response, kind, edited)
    before = _state(kind, records)

    # When the file is imported back
    job = import_file(admin, kind, content, name=f"edited.{fmt}")

    # Then exactly the edited rows changed, the other is unchanged and untouched
    assert job.status == TabularImportStatus.DONE, job.message
    assert list(job.row_errors.values_list("reason", flat=True)) == []
    assert (job.created_count, job.updated_count, job.unchanged_count) == (0, 2, 1)
    after = _state(kind, records)
    new_value = EDITS[kind][1]
    for pk in edited:
        assert after[pk][0] == new_value
    untouched = records[1].pk
    assert after[untouched] == before[untouched]


def _new_rows(admin):
    """A header and one row per kind that makes a new record (the least each kind needs)."""
    from tests.factories.crm import AccountFactory

    AccountFactory(owner=admin, name="Import Target")
    return {
        "accounts": [
            ["name", "industry", "lifecycle_stage"],
            ["New Account", "Software", "Customer"],
        ],
        "contacts": [
            ["last_name", "email", "account", "email_consent"],
            ["Newman", "newman@example.com", "Import Target", "yes"],
        ],
        "leads": [["last_name", "company_name", "country"], ["Newlead", "Lead Co", "FR"]],
        "opportunities": [
            ["name", "account", "amount", "expected_close_date"],
            ["New Deal", "Import Target", "1234.50", "2030-01-31"],
        ],
        "products": [
            ["sku", "name", "price", "billing"],
            ["NEW-1", "New Product", "99", "monthly"],
        ],
        "tickets": [["subject", "account", "priority"], ["New ticket", "Import Target", "urgent"]],
        "subscriptions": [
            ["account", "plan", "mrr", "start_date"],
            ["Import Target", "New Plan", "300", "2026-01-01"],
        ],
    }


@pytest.mark.parametrize("kind", list(EDITS))
def test_a_row_without_a_match_creates_a_record_through_the_service(admin, kind):
    from tests.tabular.conftest import csv_bytes

    model = registry.tabular.get(kind).model
    rows = _new_rows(admin)[kind]
    before = model.objects.count()
    job = import_file(admin, kind, csv_bytes(rows))
    assert list(job.row_errors.values_list("reason", flat=True)) == []
    assert job.created_count == 1 and model.objects.count() == before + 1
    created = model.objects.order_by("-pk").first()
    if hasattr(created, "activities"):  # the service wrote its timeline line, as by hand
        from crm.models import Activity

        assert Activity.objects.for_object(created).exists() or kind == "products"
