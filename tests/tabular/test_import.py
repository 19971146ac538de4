"""Imports of record files: dry run, per-row errors with the good rows kept, rights, modes,
dedupe and consent, file checks, the pages, and a killed job resumed by the sweep."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from crm import registry
from crm.choices import TabularImportStatus
from crm.faults import SimulatedKill
from crm.models import Account, Contact, TabularImportJob
from crm.tabular import imports
from leads.models import Lead
from tests.factories.crm import AccountFactory, ContactFactory
from tests.factories.leads import LeadFactory
from tests.tabular.conftest import csv_bytes, import_file, xlsx_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.pgbouncer]


def test_an_exported_header_maps_itself_and_other_names_are_guessed(admin):
    kind = registry.tabular.get("contacts")
    headers = ["id", "E-mail", "Last Name", "Job title", "Marketing consent", "Shoe size"]
    mapping = imports.guess_mapping(kind, admin, headers)
    assert mapping == {
        "id": "id",
        "E-mail": "email",
        "Last Name": "last_name",
        "Job title": "title",
        "Marketing consent": "marketing_consent",
    }


def test_the_dry_run_reports_each_row_and_writes_nothing(admin):
    # Given a file that would update one account and create another
    existing = AccountFactory(owner=admin, name="Old Name")
    content = csv_bytes(
        [["id", "name", "industry"], [existing.pk, "New Name", ""], ["", "Brand New", "retail"]]
    )
    job = import_file(admin, "accounts", content, run=False)

    # When it is dry-run
    result = imports.dry_run(job)

    # Then it says what would happen, and nothing was written
    assert result.counts == {"updated": 1, "created": 1}
    assert [row["action"] for row in result.rows] == ["updated", "created"]
    assert result.rows[0]["changed"] == ["industry", "name"]
    existing.refresh_from_db()
    assert existing.name == "Old Name"
    assert not Account.objects.filter(name="Brand New").exists()
    job.refresh_from_db()
    assert job.status == TabularImportStatus.UPLOADED and job.processed_rows == 0


def test_bad_rows_are_reported_with_reasons_and_the_good_rows_kept(admin):
    AccountFactory(owner=admin, name="Known Account")
    content = csv_bytes(
        [
            ["last_name", "email", "account", "marketing_consent", "owner"],
            ["Good", "good@example.com", "Known Account", "yes", ""],
            ["", "nameless@example.com", "", "", ""],
            ["Badbool", "b@example.com", "", "perhaps", ""],
            ["Lost", "lost@example.com", "No Such Account", "", ""],
            ["Stranger", "s@example.com", "", "", "nobody-like-this"],
            ["Also Good", "", "", "no", ""],
        ]
    )
    job = import_file(admin, "contacts", content)

    assert job.status == TabularImportStatus.DONE
    assert (job.created_count, job.error_count) == (2, 4)
    reasons = dict(job.row_errors.values_list("line", "reason"))
    assert "Last name is missing" in reasons[3]
    assert "not yes or no" in reasons[4]
    assert "no account “No Such Account”" in reasons[5]
    assert "not a user you may give records to" in reasons[6]
    good = Contact.objects.get(email="good@example.com")
    assert good.account.name == "Known Account" and good.owner == admin
    assert good.marketing_consent and good.marketing_consent_at is not None  # the service dates it
    report = "".join(imports.errors_csv(job))
    assert "Last name is missing" in report and "nameless@example.com" in report


def test_a_rep_cannot_change_another_reps_account_or_reach_their_lead(rep, rep2):
    theirs = AccountFactory(owner=rep2, name="Their Account")
    their_lead = LeadFactory(owner=rep2, last_name="Theirs")
    accounts = import_file(rep, "accounts", csv_bytes([["id", "name"], [theirs.pk, "Mine now"]]))
    leads = import_file(rep, "leads", csv_bytes([["id", "last_name"], [their_lead.pk, "Mine now"]]))

    assert accounts.updated_count == 0 and accounts.error_count == 1
    assert f"you may not change account #{theirs.pk}" in accounts.row_errors.get().reason
    assert leads.updated_count == 0
    assert f"no lead #{their_lead.pk} that you can see" in leads.row_errors.get().reason
    theirs.refresh_from_db()
    their_lead.refresh_from_db()
    assert (theirs.name, their_lead.last_name) == ("Their Account", "Theirs")


def test_a_rep_cannot_give_records_to_another_rep(rep, rep2):
    job = import_file(rep, "accounts", csv_bytes([["name", "owner"], ["Gift", "rep2"]]))
    assert job.created_count == 0
    assert "not a user you may give records to" in job.row_errors.get().reason


def test_modes_create_only_and_update_only_skip_and_say_why(admin):
    existing = ContactFactory(owner=admin, email="known@example.com", title="Old")
    content = csv_bytes(
        [
            ["email", "last_name", "title"],
            ["known@example.com", "K", "New"],
            ["n@x.example", "N", ""],
        ]
    )
    created = import_file(admin, "contacts", content, mode="create")
    assert (created.created_count, created.skipped_count) == (1, 1)
    assert f"Skipped: already exists as #{existing.pk}" in created.row_errors.get().reason

    updated = import_file(admin, "contacts", content.replace(b"n@x", b"m@x"), mode="update")
    assert (updated.updated_count, updated.skipped_count, updated.created_count) == (1, 1, 0)
    existing.refresh_from_db()
    assert existing.title == "New"


def test_contacts_match_by_email_in_any_case_so_a_file_never_duplicates_them(admin):
    ContactFactory(owner=admin, email="ada@example.com", last_name="Lovelace")
    job = import_file(
        admin, "contacts", csv_bytes([["email", "last_name"], ["ADA@Example.com", "Lovelace"]])
    )
    assert (job.created_count, job.unchanged_count) == (0, 1)
    assert Contact.objects.filter(email="ada@example.com").count() == 1


def test_a_new_lead_whose_email_is_a_contacts_is_refused_by_the_dedupe_rule(admin):
    ContactFactory(email="taken@example.com")
    content = csv_bytes(
        [["last_name", "email"], ["Dup", "taken@example.com"], ["Fresh", "fresh@example.com"]]
    )
    job = import_file(admin, "leads", content)
    assert (job.created_count, job.error_count) == (1, 1)
    assert "This person is already the contact" in job.row_errors.get().reason
    assert Lead.objects.get(email="fresh@example.com").source == "import"


def test_formula_like_cells_round_trip_as_text(admin_client_, admin):
    account = AccountFactory(owner=admin, name="=1+2 Holdings")
    from tests.tabular.conftest import csv_table, export

    table = csv_table(export(admin_client_, "accounts"))
    assert table[1][1] == "'=1+2 Holdings"
    job = import_file(admin, "accounts", csv_bytes(table))
    assert (job.unchanged_count, job.updated_count, job.error_count) == (1, 0, 0)
    account.refresh_from_db()
    assert account.name == "=1+2 Holdings"


def test_an_xlsx_file_imports_like_a_csv(admin):
    content = xlsx_bytes([["name", "domain", "country"], ["Sheet Co", "sheet.example", "Germany"]])
    job = import_file(admin, "accounts", content, name="accounts.xlsx")
    assert job.file_format == "xlsx" and job.created_count == 1, job.message
    assert str(Account.objects.get(name="Sheet Co").country) == "DE"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("fake.xlsx", b"PK\x03\x04" + b"\x00" * 200, "not an Excel workbook"),
        ("photo.xlsx", b"\x89PNG\r\n\x1a\n" + b"\x00" * 100, "not a CSV file"),
        ("empty.csv", b"", "empty"),
    ],
)
def test_files_that_are_not_tables_get_a_clear_message(admin_client_, name, content, message):
    response = admin_client_.post(
        reverse("tabular_import_start", args=["accounts"]),
        {"file": SimpleUploadedFile(name, content), "mode": "both"},
    )
    assert response.status_code == 200
    assert message in " ".join(response.context["form"].errors["file"])
    assert not TabularImportJob.objects.exists()


def test_a_zip_renamed_xlsx_without_a_workbook_is_refused(admin_client_):
    import io
    import zipfile

    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("notes.txt", "hello")
    response = admin_client_.post(
        reverse("tabular_import_start", args=["accounts"]),
        {"file": SimpleUploadedFile("notes.xlsx", data.getvalue()), "mode": "both"},
    )
    assert "without a workbook" in " ".join(response.context["form"].errors["file"])


def test_oversize_files_are_refused_with_the_limit(admin_client_, settings):
    settings.XLSX_UPLOAD_MAX_BYTES = 1000
    settings.CSV_UPLOAD_MAX_BYTES = 100
    big_xlsx = xlsx_bytes([["name"]] + [[f"Account {n} " * 5] for n in range(300)])
    response = admin_client_.post(
        reverse("tabular_import_start", args=["accounts"]),
        {"file": SimpleUploadedFile("big.xlsx", big_xlsx), "mode": "both"},
    )
    message = " ".join(response.context["form"].errors["file"]).replace("\xa0", " ")
    assert "at most 1000 bytes of Excel" in message
    response = admin_client_.post(
        reverse("tabular_import_start", args=["accounts"]),
        {"file": SimpleUploadedFile("big.csv", b"name\n" + b"x" * 200), "mode": "both"},
    )
    assert "at most 100" in " ".join(response.context["form"].errors["file"])


def test_a_sheet_past_the_row_limit_is_refused(admin_client_, settings):
    settings.CSV_UPLOAD_MAX_ROWS = 5
    content = xlsx_bytes([["name"]] + [[f"Account {n}"] for n in range(10)])
    response = admin_client_.post(
        reverse("tabular_import_start", args=["accounts"]),
        {"file": SimpleUploadedFile("rows.xlsx", content), "mode": "both"},
    )
    assert "11 rows; at most 5" in " ".join(response.context["form"].errors["file"])


def test_pages_upload_map_dry_run_run_and_report(
    rep_client, rep, django_capture_on_commit_callbacks
):
    content = csv_bytes(
        [["Company", "Website"], ["Page Co", "page.example"], ["", "nameless.example"]]
    )
    response = rep_client.post(
        reverse("tabular_import_start", args=["accounts"]),
        {"file": SimpleUploadedFile("a.csv", content), "mode": "both"},
    )
    job = TabularImportJob.objects.get()
    assert response["Location"] == job.get_absolute_url()
    page = rep_client.get(job.get_absolute_url()).content.decode()
    assert "Dry run" in page and "Name is missing" in page and not Account.objects.exists()
    with django_capture_on_commit_callbacks() as callbacks:
        rep_client.post(
            job.get_absolute_url(), {"col_0": "name", "col_1": "domain", "mode": "both", "run": "1"}
        )
    job.refresh_from_db()
    assert job.status == TabularImportStatus.QUEUED and len(callbacks) == 1
    imports.tabular_import_run(job_id=job.pk)  # what the worker does
    progress = rep_client.get(
        reverse("tabular_import_progress", args=[job.pk]), HTTP_HX_REQUEST="true"
    ).content.decode()
    assert "Done" in progress and "hx-trigger" not in progress and "created 1" in progress
    report = rep_client.get(reverse("tabular_import_errors", args=[job.pk]))
    assert b"Name is missing" in b"".join(report.streaming_content)
    assert Account.objects.get().owner == rep


def test_the_list_offers_import_only_to_who_may_import(client, rep, agent):
    client.force_login(agent)
    assert "Import</a>" not in client.get(reverse("account_list")).content.decode()
    assert client.get(reverse("tabular_import_start", args=["accounts"])).status_code == 404
    client.force_login(rep)
    assert "Import</a>" in client.get(reverse("account_list")).content.decode()
    assert client.get(reverse("tabular_import_start", args=["products"])).status_code == 404
    assert client.get(reverse("tabular_import_start", args=["nothing"])).status_code == 404


ROWS = 25


def _queued_job(user):
    content = csv_bytes([["name"]] + [[f"Resumed {n}"] for n in range(ROWS)] + [[""]] + [["=bad"]])
    job = import_file(user, "accounts", content, run=False)
    TabularImportJob.objects.filter(pk=job.pk).update(status=TabularImportStatus.QUEUED)
    return job


def test_a_killed_import_is_resumed_by_the_sweep_with_every_row_once(admin, monkeypatch):
    from crm import tasks

    woken = []
    monkeypatch.setattr(tasks.tabular_import_run, "delay", lambda job_id: woken.append(job_id))
    job = _queued_job(admin)
    for owner in ("first", "second"):
        with pytest.raises(SimulatedKill):
            imports.tabular_import_run(
                job_id=job.pk, chunk_size=10, owner=owner, crash_after_chunks=1
            )
        assert imports.tabular_import_sweep() == 0  # the lease still holds
        TabularImportJob.objects.filter(pk=job.pk).update(
            lease_until=timezone.now() - timedelta(seconds=1)
        )
        assert imports.tabular_import_sweep() == 1 and woken[-1] == job.pk
    job = imports.tabular_import_run(job_id=job.pk, chunk_size=10, owner="third")

    assert job.status == TabularImportStatus.DONE and job.runs == 3
    assert job.created_count == ROWS + 1 and job.processed_rows == ROWS + 3
    assert Account.objects.filter(name__startswith="Resumed").count() == ROWS
    assert (job.lease_owner, job.lease_until) == ("", None)


def test_a_stalled_import_shows_on_the_operators_list_and_its_page(admin, admin_client_):
    job = _queued_job(admin)
    with pytest.raises(SimulatedKill):
        imports.tabular_import_run(job_id=job.pk, chunk_size=10, owner="gone", crash_after_chunks=1)
    TabularImportJob.objects.filter(pk=job.pk).update(
        lease_until=timezone.now() - timedelta(seconds=1)
    )
    problems = registry.work.get("tabular_imports").call("problems", 10)
    assert [p.pk for p in problems] == [job.pk] and "stopped" in problems[0].state
    page = admin_client_.get(job.get_absolute_url()).content.decode()
    assert 'id="import-stalled"' in page


def test_columns_an_import_may_not_change_on_a_record_are_refused_for_that_row(admin):
    from tests.factories.retention import SubscriptionFactory
    from tests.factories.support import TicketFactory

    subscription = SubscriptionFactory(owner=admin, currency="EUR")
    ticket = TicketFactory(subject="Old subject")
    subscriptions = import_file(
        admin, "subscriptions", csv_bytes([["id", "currency"], [subscription.pk, "USD"]])
    )
    tickets = import_file(admin, "tickets", csv_bytes([["id", "subject"], [ticket.pk, "New"]]))
    assert "currency of an existing subscription cannot be changed" in (
        subscriptions.row_errors.get().reason
    )
    assert "subject of an existing ticket cannot be changed" in tickets.row_errors.get().reason
    assert subscriptions.updated_count == tickets.updated_count == 0


def test_a_ticket_status_change_follows_the_allowed_transitions(admin):
    from support.choices import TicketStatus
    from tests.factories.support import TicketFactory

    closed = TicketFactory(status=TicketStatus.CLOSED)
    working = TicketFactory(status=TicketStatus.OPEN)
    content = csv_bytes([["id", "status"], [closed.pk, "open"], [working.pk, "Solved"]])
    job = import_file(admin, "tickets", content)
    closed.refresh_from_db()
    working.refresh_from_db()
    assert (job.updated_count, job.error_count) == (1, 1)
    assert "cannot go from Closed to Open" in job.row_errors.get().reason
    assert (closed.status, working.status) == (TicketStatus.CLOSED, TicketStatus.SOLVED)
    assert working.resolved_at is not None  # the service's SLA bookkeeping ran


def test_a_rep_re_importing_the_whole_accounts_export_changes_only_their_edits(client, rep, rep2):
    from tests.tabular.conftest import csv_table, export

    mine = AccountFactory(owner=rep, name="Mine")
    theirs = AccountFactory(owner=rep2, name="Theirs")
    client.force_login(rep)
    table = csv_table(export(client, "accounts"))
    for row in table[1:]:
        row[1] = {"Mine": "Mine, edited", "Theirs": "Theirs, edited"}.get(row[1], row[1])
    job = import_file(rep, "accounts", csv_bytes(table))
    assert (job.updated_count, job.error_count, job.unchanged_count) == (1, 1, 0)
    assert f"you may not change account #{theirs.pk}" in job.row_errors.get().reason
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.name, theirs.name) == ("Mine, edited", "Theirs")
    # Unedited, the same file is all unchanged: rows the rep may not change are not errors
    again = import_file(rep, "accounts", csv_bytes(csv_table(export(client, "accounts"))))
    assert (again.unchanged_count, again.error_count, again.updated_count) == (2, 0, 0)
