"""Custom fields in exports and imports: a column per field the user may see, named by its
key, written as the field's text and parsed back by the same rules as the forms."""

import pytest

from crm import registry
from crm.choices import TabularImportStatus
from crm.models import Account, Contact
from crm.services import custom_fields as services
from tests.tabular.conftest import (
    csv_bytes,
    csv_table,
    export,
    import_file,
    make_records,
    xlsx_table,
)

pytestmark = pytest.mark.django_db


def test_export_has_a_column_per_field_formula_safe(admin_client_, admin, tier):
    # Given accounts with a tier, one with a text field that looks like a formula
    services.custom_field_create(user=admin, entity="account", label="Note", kind="text")
    accounts = make_records("accounts", admin)
    Account.objects.filter(pk=accounts[0].pk).update(
        custom={"industry_tier": "gold", "note": "=HYPERLINK(1)"}
    )

    # When they are exported as CSV and XLSX
    table = csv_table(export(admin_client_, "accounts", "csv"))
    sheet = xlsx_table(export(admin_client_, "accounts", "xlsx"))

    # Then the fields are columns named by key, the values as text, formulas defused
    header = table[0]
    assert header[-2:] == ["industry_tier", "note"]
    row = next(r for r in table[1:] if r[0] == str(accounts[0].pk))
    assert row[-2:] == ["gold", "'=HYPERLINK(1)"]
    assert list(sheet[0][-2:]) == ["industry_tier", "note"]
    other = next(r for r in table[1:] if r[0] == str(accounts[1].pk))
    assert other[-2:] == ["", ""]


def test_round_trip_updates_values_and_reports_bad_cells(admin_client_, admin, tier):
    # Given three accounts with a tier, exported
    accounts = make_records("accounts", admin)
    for record in accounts:
        Account.objects.filter(pk=record.pk).update(custom={"industry_tier": "bronze"})
    table = csv_table(export(admin_client_, "accounts", "csv"))
    index = table[0].index("industry_tier")
    rows = {int(r[0]): r for r in table[1:]}

    # When one cell is changed (by label), one is emptied, one is not a choice, and imported
    rows[accounts[0].pk][index] = "Gold"
    rows[accounts[1].pk][index] = ""
    rows[accounts[2].pk][index] = "platinum"
    job = import_file(admin, "accounts", csv_bytes([table[0], *rows.values()]))

    # Then the good rows are updated, the bad one is reported on its row and left alone
    assert job.status == TabularImportStatus.DONE, job.message
    assert (job.updated_count, job.error_count) == (2, 1)
    [error] = job.row_errors.all()
    assert "“platinum” is not one of its choices" in error.reason
    custom = dict(
        Account.objects.filter(pk__in=[a.pk for a in accounts]).values_list("pk", "custom")
    )
    assert custom[accounts[0].pk] == {"industry_tier": "gold"}
    assert custom[accounts[1].pk] == {}
    assert custom[accounts[2].pk] == {"industry_tier": "bronze"}
    # and the timeline says which field changed
    assert accounts[0].activities.filter(summary__contains="Industry tier").exists()


def test_import_creates_records_with_values_matched_by_label(admin, tier):
    # Given a file from elsewhere whose header is the field's label
    content = csv_bytes([["Name", "Industry tier"], ["Tiered Co", "silver"], ["Bad Co", "x"]])

    # When it is imported
    job = import_file(admin, "accounts", content)

    # Then the mapping found the field, the new account has its value, the bad row is reported
    assert job.mapping["Industry tier"] == "industry_tier"
    assert Account.objects.get(name="Tiered Co").custom == {"industry_tier": "silver"}
    assert not Account.objects.filter(name="Bad Co").exists()
    assert job.error_count == 1


def test_hidden_and_archived_fields_are_neither_exported_nor_imported(rep_client, admin, rep):
    # Given a field only admins see and an archived one, on contacts
    secret = services.custom_field_create(
        user=admin, entity="contact", label="Secret", kind="text", roles=["Admin"]
    )
    old = services.custom_field_create(user=admin, entity="contact", label="Old", kind="text")
    services.custom_field_archive(field=old, user=admin)
    contacts = make_records("contacts", rep)
    Contact.objects.filter(pk=contacts[0].pk).update(custom={"secret": "s", "old": "o"})

    # Then the rep's export has neither, the admin's only the visible one
    assert "secret" not in csv_table(export(rep_client, "contacts"))[0]
    admin_header = [c.name for c in registry.tabular.get("contacts").columns_for(admin)]
    assert "secret" in admin_header and "old" not in admin_header

    # And a rep's file naming the hidden column changes nothing of it
    content = csv_bytes([["id", "secret"], [str(contacts[0].pk), "changed"]])
    job = import_file(rep, "contacts", content)
    assert job.status == TabularImportStatus.DONE
    assert Contact.objects.get(pk=contacts[0].pk).custom["secret"] == "s"
    assert secret.key == "secret"


def test_field_named_like_a_built_in_column_gets_a_prefix(admin_client_, admin):
    services.custom_field_create(user=admin, entity="account", label="Domain", kind="text")
    make_records("accounts", admin, count=1)
    header = csv_table(export(admin_client_, "accounts"))[0]
    assert header.count("domain") == 1 and "cf_domain" in header
