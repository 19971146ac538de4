import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.urls import reverse

from crm.choices import Role
from crm.faults import SimulatedKill
from crm.personal_data import email_hash
from leads.choices import DedupePolicy, ImportStatus
from leads.models import ImportJob, ImportMapping, ImportRowError, Lead, Suppression
from leads.services import imports
from tests.factories.crm import ContactFactory, TeamFactory, UserFactory
from tests.factories.leads import AssignmentRuleFactory, LeadFactory

pytestmark = pytest.mark.django_db

MESSY = (
    "First name,Last name,E-mail,Phone,Company,Country,Employees,Industry\n"
    "Ada,Lovelace,ADA@Engine.example,030 1234567,Engines,DE,50,software\n"
    "Bad,,bad-email,12,,Atlantis,lots,plumbing\n"
    "Alan,Turing,alan@bletchley.example,,Bletchley,GB,,\n"
    "Ada,Lovelace,ada@engine.example,,Engines,DE,,\n"
    "Grace,Hopper,known@navy.example,,Navy,US,10000,\n"
    "\n"
    "Kate,Known,contact@corp.example,,Corp,,,\n"
)


def _job(user, text=MESSY, policy=DedupePolicy.SKIP, owner=None):
    upload = SimpleUploadedFile("messy.csv", text.encode(), content_type="text/csv")
    return imports.import_job_create(user=user, upload=upload, policy=policy, owner=owner)


@pytest.fixture
def known(rep):
    LeadFactory(owner=rep, email="known@navy.example", last_name="Hopper")
    # "contact@" is a team mailbox: only the same name makes the row this contact.
    ContactFactory(email="contact@corp.example", first_name="Kate", last_name="Known")


def test_guess_mapping_uses_names_and_remembers(admin):
    job = _job(admin)
    assert job.mapping["E-mail"] == "email" and job.mapping["Company"] == "company_name"
    imports.mapping_remember(user=admin, mapping={"Company": "title", "E-mail": "email"})
    assert _job(admin).mapping["Company"] == "title"


def test_preview_shows_problems_of_first_rows(admin):
    rows = imports.preview(_job(admin))
    assert rows[0]["problems"] == ""
    problems = rows[1]["problems"]
    for word in (
        "last name is missing",
        "not an email",
        "unknown country",
        "not a whole number",
        "unknown industry",
    ):
        assert word in problems


def test_skip_policy_imports_good_rows_and_reports_the_rest(admin, rep, known):
    job = imports.import_run(job_id=_job(admin, owner=rep).pk)
    assert job.status == ImportStatus.DONE
    assert (job.created_count, job.skipped_count, job.error_count) == (2, 3, 1)
    ada = Lead.objects.get(email="ada@engine.example")
    assert ada.phone == "+49301234567" and ada.owner == rep and ada.source == "import"
    report = list(csv.reader(io.StringIO("".join(imports.errors_csv(job)).lstrip("\ufeff"))))
    assert report[0] == ["line", "reason", "row"]
    lines = {int(row[0]): row[1] for row in report[1:]}
    assert "last name is missing" in lines[3]
    assert "the row on line 2" in lines[5] and "lead #" in lines[6] and "contact #" in lines[8]


def test_update_policy_updates_the_match(admin, known):
    job = imports.import_run(job_id=_job(admin, policy=DedupePolicy.UPDATE).pk)
    hopper = Lead.objects.get(email="known@navy.example")
    assert hopper.employees == 10000 and hopper.company_name == "Navy"
    assert job.updated_count == 2 and job.created_count == 2
    assert Lead.objects.filter(email="ada@engine.example").count() == 1


def test_create_policy_flags_duplicates(admin, known):
    job = imports.import_run(job_id=_job(admin, policy=DedupePolicy.CREATE).pk)
    assert job.created_count == 5 and job.flagged_count == 3
    assert Lead.objects.filter(email="known@navy.example", possible_duplicate=True).count() == 1


def test_import_assigns_round_robin_by_rules(admin):
    reps = [UserFactory(username=f"imp{i}", roles=[Role.SALES_REP]) for i in range(2)]
    AssignmentRuleFactory(team=TeamFactory(members=reps), countries="")
    text = "Last name,Email\n" + "".join(f"L{i},l{i}@x.example\n" for i in range(6))
    imports.import_run(job_id=_job(admin, text=text).pk)
    counts = [Lead.objects.filter(owner=r).count() for r in reps]
    assert counts == [3, 3]


def test_crash_mid_run_resumes_without_duplicates(admin):
    text = "Last name,Email\n" + "".join(f"L{i},l{i}@x.example\n" for i in range(25))
    job = _job(admin, text=text)
    with pytest.raises(SimulatedKill):
        imports.import_run(job_id=job.pk, chunk_size=10, crash_after_chunks=2)
    job.refresh_from_db()
    assert job.processed_rows == 21 and Lead.objects.count() == 20
    job = imports.import_run(job_id=job.pk, chunk_size=10)
    assert job.status == ImportStatus.DONE and job.created_count == 25
    assert Lead.objects.count() == 25
    assert imports.import_run(job_id=job.pk).created_count == 25


def test_management_command_prints_summary_and_bad_rows(tmp_path, rep, known):
    path = tmp_path / "messy.csv"
    path.write_text(MESSY)
    out = io.StringIO()
    call_command("import_leads", str(path), "--owner", rep.username, "--policy", "skip", stdout=out)
    output = out.getvalue()
    assert "created 2" in output and "errors 1" in output
    assert "line 3: " in output and "last name is missing" in output


def test_pages_upload_map_preview_run_and_download(
    admin_client_, admin, django_capture_on_commit_callbacks
):
    response = admin_client_.post(
        reverse("leads:import_start"),
        {"file": SimpleUploadedFile("messy.csv", MESSY.encode()), "policy": "skip"},
    )
    job = ImportJob.objects.get()
    assert response["Location"] == job.get_absolute_url()
    page = admin_client_.get(job.get_absolute_url())
    assert "Preview" in page.content.decode() and "last name is missing" in page.content.decode()
    data = {
        f"col_{i}": field
        for i, field in enumerate(
            [
                "first_name",
                "last_name",
                "email",
                "phone",
                "company_name",
                "country",
                "employees",
                "industry",
            ]
        )
    }
    with django_capture_on_commit_callbacks() as callbacks:
        admin_client_.post(job.get_absolute_url(), {**data, "run": "1"})
    assert ImportMapping.objects.get(user=admin).mapping["E-mail"] == "email"
    job.refresh_from_db()
    assert job.status == ImportStatus.QUEUED and len(callbacks) == 1
    imports.import_run(job_id=job.pk)  # what the worker does
    progress = admin_client_.get(
        reverse("leads:import_progress", args=[job.pk]), HTTP_HX_REQUEST="true"
    )
    assert "Done" in progress.content.decode() and "hx-trigger" not in progress.content.decode()
    errors = admin_client_.get(reverse("leads:import_errors", args=[job.pk]))
    assert b"last name is missing" in b"".join(errors.streaming_content)


def test_mapping_without_last_name_is_refused(admin_client_, admin):
    job = _job(admin)
    response = admin_client_.post(
        job.get_absolute_url(), {"col_0": "first_name", "col_1": "first_name", "run": "1"}
    )
    assert response.status_code == 200 and response.context["form"].errors
    job.refresh_from_db()
    assert job.status == ImportStatus.UPLOADED


def test_bad_uploads_and_reps_are_refused(admin_client_):
    response = admin_client_.post(
        reverse("leads:import_start"),
        {"file": SimpleUploadedFile("x.xlsx", b"PK"), "policy": "skip"},
    )
    assert response.status_code == 200 and "file" in response.context["form"].errors
    response = admin_client_.post(
        reverse("leads:import_start"), {"file": SimpleUploadedFile("x.csv", b""), "policy": "skip"}
    )
    assert response.status_code == 200


def test_reps_cannot_import(rep_client, admin):
    job = _job(admin)
    assert rep_client.get(reverse("leads:import_start")).status_code == 404
    assert rep_client.get(job.get_absolute_url()).status_code == 404
    assert rep_client.get(reverse("leads:import_errors", args=[job.pk])).status_code == 404


def test_an_erased_persons_address_is_skipped_and_its_row_not_kept(admin, rep):
    Suppression.objects.create(
        email=None, email_hash=email_hash("alan@bletchley.example"), reason="erased"
    )
    job = imports.import_run(job_id=_job(admin, owner=rep).pk)
    assert not Lead.objects.filter(email="alan@bletchley.example").exists()
    errors = ImportRowError.objects.filter(job=job, reason=imports.ERASED_ROW)
    assert errors.count() == 1 and errors.get().raw == ""


def test_colleagues_behind_one_switchboard_are_all_imported(admin):
    """200 different people, 20 phone numbers shared by 10 people each: 200 leads, none
    skipped (a shared phone with another name and email is no duplicate)."""
    rows = ["First name,Last name,Email,Phone,Company"]
    firsts = ["Anna", "Ben", "Carla", "David", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas"]
    lasts = ["Berg", "Holm", "Ng", "Okafor", "Rossi", "Silva", "Tanaka", "Weber", "Yilmaz", "Zhou"]
    for number in range(20):
        for person in range(10):
            first, last = firsts[person], lasts[(person + number) % 10] + str(number)
            rows.append(
                f"{first},{last},{first}.{last}@corp{number}.example,"
                f"+1 415 555 01{number:02d},Corp {number}"
            )
    for policy in (DedupePolicy.SKIP, DedupePolicy.UPDATE):
        Lead.objects.all().delete()
        job = imports.import_run(job_id=_job(admin, text="\n".join(rows) + "\n", policy=policy).pk)
        assert (job.created_count, job.skipped_count, job.error_count) == (200, 0, 0)
        assert Lead.objects.count() == 200
        assert Lead.objects.filter(phone="+14155550107").count() == 10


def test_the_same_person_written_differently_is_skipped_and_a_likely_one_flagged(admin, rep):
    LeadFactory(first_name="Robert", last_name="Miller", email="rmiller@acme.example", phone="")
    text = (
        "First name,Last name,Email,Phone,Company\n"
        "Bob,Miller,RMiller+crm@acme.example,,Acme\n"  # the same: plus-tag, nickname
        "Jane,Doe,jane@gmail.com,+1 415 555 0100,\n"
        "Jane,Doe,j.a.ne@googlemail.com,,\n"  # the same as the row before (gmail dots, alias)
        "Jane,Doe,jane.doe@work.example,415-555-0100,\n"  # likely: phone and name, other email
    )
    job = _job(admin, text=text)
    preview = {row["line"]: row["duplicate"] for row in imports.preview(job)}
    assert preview[2].startswith("skipped: the same person as lead #")
    assert "nickname" in preview[2]
    assert preview[3] == ""
    assert (
        preview[4]
        == "skipped: the same person as the row on line 3 (same email (written differently), same name)"
    )
    assert preview[5].startswith("imported and flagged: likely the same as the row on line 3")
    job = imports.import_run(job_id=job.pk)
    assert (job.created_count, job.skipped_count, job.flagged_count) == (2, 2, 1)
    report = {line: reason for line, reason, _ in imports.error_rows(job)}
    assert report[5].startswith("Imported, flagged: likely the same as")
    assert Lead.objects.get(email="jane.doe@work.example").possible_duplicate
