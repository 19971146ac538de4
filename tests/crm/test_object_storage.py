"""Stored files on an S3-compatible server (README, "Stored files"): attachments uploaded and
downloaded through the app's views (the role rules first), import sources read by the worker
from the bucket, an export downloaded and imported back, and deletions that remove the objects.

The server is moto's, started on a free port for the session; each test gets its own bucket and
switches the default storage to it."""

import csv
import io
import logging
import os
import socket
import subprocess
import sys
import uuid
from datetime import timedelta

import pytest
from django.core.files.storage import storages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from crm import registry
from crm.choices import TabularImportStatus
from crm.models import Account, TrashedRecord
from crm.services.trash import trash_delete_forever
from crm.settings.base import s3_storage_options
from crm.tabular import imports
from support.services import tickets as svc
from tests.factories.crm import AccountFactory, ContactFactory

try:
    import boto3
    from moto.server import ThreadedMotoServer
except ImportError:  # pragma: no cover - the dev requirements bring both
    ThreadedMotoServer = None

pytestmark = [
    pytest.mark.skipif(
        ThreadedMotoServer is None,
        reason="moto[server] is not installed (pip install -r requirements-dev.txt): "
        "no S3-compatible server to test the object storage against",
    ),
    pytest.mark.django_db,
]

PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 64
KEYS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def s3_endpoint():
    """A real S3 API (moto's server) on 127.0.0.1, for the whole session."""
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(s3_endpoint, monkeypatch):
    """The default storage switched to a fresh private bucket; yields the boto3 bucket."""
    name = f"crm-test-{uuid.uuid4().hex[:12]}"
    for variable, value in {
        "STORAGE_S3_ENDPOINT_URL": s3_endpoint,
        "STORAGE_S3_ACCESS_KEY_ID": KEYS["aws_access_key_id"],
        "STORAGE_S3_SECRET_ACCESS_KEY": KEYS["aws_secret_access_key"],
        "STORAGE_S3_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(variable, value)
    resource = boto3.resource("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **KEYS)
    bucket = resource.create_bucket(Bucket=name)
    switched = {
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": s3_storage_options(name),
        },
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    with override_settings(STORAGES=switched):
        yield bucket


def keys(bucket) -> set[str]:
    return {obj.key for obj in bucket.objects.all()}


def test_the_settings_choose_s3_only_when_a_bucket_is_set():
    # Given the settings module read in a fresh process with and without a bucket
    def default_backend(**env) -> str:
        code = "from django.conf import settings; print(settings.STORAGES['default']['BACKEND'])"
        environment = {k: v for k, v in os.environ.items() if not k.startswith("STORAGE_S3_")}
        environment.update(DJANGO_SETTINGS_MODULE="crm.settings.test", **env)
        result = subprocess.run(
            [sys.executable, "-c", code], env=environment, capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        return result.stdout.strip()

    # Then the local disk is the default, and a bucket switches to django-storages' S3
    assert default_backend() == "django.core.files.storage.FileSystemStorage"
    assert default_backend(STORAGE_S3_BUCKET="crm-files") == "storages.backends.s3.S3Storage"


def test_the_bucket_is_private(s3):
    # No ACL on objects, signed URLs that expire soon, no file written over another
    storage = storages["default"]
    assert storage.bucket_name == s3.name
    assert storage.default_acl is None and storage.querystring_auth is True
    assert storage.querystring_expire <= 600
    assert storage.file_overwrite is False


def test_a_ticket_attachment_is_uploaded_and_downloaded_through_the_app(
    s3, agent_client, agent, rep2
):
    # Given a ticket an agent replies to with a screenshot, on the S3 storage
    ticket = svc.ticket_create(subject="Broken", contact=ContactFactory(email="c@example.com"))
    png = SimpleUploadedFile("shot.png", PNG, content_type="image/png")
    response = agent_client.post(
        reverse("support:ticket_reply", args=[ticket.pk]),
        {"body": "Here it is", "status": "pending", "files": [png]},
    )
    assert response.status_code == 302

    # Then the file is an object in the bucket, not on the local disk
    attachment = ticket.attachments.get()
    assert attachment.file.name in keys(s3)

    # When the agent downloads it, the app streams it after the role check
    response = agent_client.get(attachment.get_absolute_url())
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == PNG
    assert response["Content-Type"] == "image/png"
    assert response["X-Content-Type-Options"] == "nosniff"

    # And a rep who may not see the ticket gets 404, with no way round it through a bucket URL
    agent_client.force_login(rep2)
    assert agent_client.get(attachment.get_absolute_url()).status_code == 404

    # And an attachment whose object went missing answers 404, not an error
    s3.Object(attachment.file.name).delete()
    agent_client.force_login(agent)
    assert agent_client.get(attachment.get_absolute_url()).status_code == 404


def test_a_record_import_whose_source_is_on_s3_runs_to_the_end(s3, admin):
    # Given a contacts file uploaded for import: the source goes to the bucket
    account = AccountFactory(owner=admin, name="Bucket Ltd")
    rows = [["email", "last_name", "account"]] + [
        [f"p{n}@example.com", f"Person {n}", account.name] for n in range(25)
    ]
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    upload = SimpleUploadedFile("people.csv", out.getvalue().encode())
    job = imports.tabular_import_create(
        user=admin, kind=registry.tabular.get("contacts"), upload=upload, mode="both"
    )
    assert job.file.name in keys(s3)

    # When a worker (a fresh read of the row, another process's view) runs it in chunks
    done = imports.tabular_import_run(job_id=job.pk, chunk_size=10)

    # Then every row was read from the object and imported
    assert done.status == TabularImportStatus.DONE
    assert (done.total_rows, done.created_count) == (26, 25)
    assert account.contacts.count() == 25


def test_a_lead_import_killed_midway_is_finished_by_another_worker_from_s3(s3, admin):
    # Given a lead file uploaded on one host: its source is an object in the bucket
    from crm.faults import SimulatedKill
    from leads.choices import ImportStatus
    from leads.models import ImportJob, Lead
    from leads.services import imports as lead_imports

    text = "Last name,Email\n" + "".join(f"L{i},l{i}@s3.example\n" for i in range(25))
    upload = SimpleUploadedFile("leads.csv", text.encode(), content_type="text/csv")
    job = lead_imports.import_job_create(user=admin, upload=upload)
    assert job.file.name in keys(s3)
    ImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.QUEUED)

    # When one worker dies after a chunk and its lease runs out
    with pytest.raises(SimulatedKill):
        lead_imports.import_run(job_id=job.pk, chunk_size=10, owner="first", crash_after_chunks=1)
    ImportJob.objects.filter(pk=job.pk).update(lease_until=timezone.now() - timedelta(seconds=1))

    # Then another worker reads the same object and finishes it, every row once
    done = lead_imports.import_run(job_id=job.pk, chunk_size=10, owner="second")
    assert (done.status, done.created_count) == (ImportStatus.DONE, 25)
    assert Lead.objects.filter(email__endswith="@s3.example").count() == 25


def test_an_export_is_downloaded_and_imported_back_from_s3(s3, admin_client_, admin):
    # Given accounts exported as XLSX (written in the request, downloaded)
    AccountFactory(owner=admin, name="Alpha", industry="")
    response = admin_client_.get(reverse("account_list"), {"export": "xlsx"})
    assert response.status_code == 200
    data = b"".join(response.streaming_content)
    assert data.startswith(b"PK\x03\x04")

    # When the file is edited and uploaded back: its source is kept in the bucket
    import openpyxl

    book = openpyxl.load_workbook(io.BytesIO(data))
    sheet = book.worksheets[0]
    header = [c.value for c in sheet[1]]
    for row in sheet.iter_rows(min_row=2):
        if row[header.index("name")].value == "Alpha":
            row[header.index("name")].value = "Alpha Renamed"
    edited = io.BytesIO()
    book.save(edited)
    upload = SimpleUploadedFile("accounts.xlsx", edited.getvalue())
    job = imports.tabular_import_create(
        user=admin, kind=registry.tabular.get("accounts"), upload=upload, mode="both"
    )
    assert job.file.name in keys(s3)
    done = imports.tabular_import_run(job_id=job.pk)

    # Then the workbook was read back from the object and the edit applied
    assert done.status == TabularImportStatus.DONE and done.updated_count == 1
    assert Account.objects.filter(name="Alpha Renamed").exists()


def test_deleting_a_ticket_for_good_removes_its_objects(
    s3, agent, admin, django_capture_on_commit_callbacks
):
    # Given a ticket with a file, moved to the trash: the object stays while it may come back
    ticket = svc.ticket_create(subject="x", contact=ContactFactory())
    svc.ticket_note(ticket=ticket, user=agent, body="f", files=[SimpleUploadedFile("a.txt", b"x")])
    name = ticket.attachments.get().file.name
    with django_capture_on_commit_callbacks(execute=True):
        svc.ticket_delete(ticket=ticket, user=admin)
    assert name in keys(s3)

    # When it is deleted from the trash for good
    entry = TrashedRecord.objects.get()
    with django_capture_on_commit_callbacks(execute=True):
        trash_delete_forever(entry=entry, user=admin)

    # Then its object is gone from the bucket
    assert name not in keys(s3)


def test_readiness_checks_the_bucket(s3, client, settings):
    # Given the bucket answers: the web process is ready, and says what it checked
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["storage"] == {"ok": True, "backend": "s3"}

    # When the bucket is not there (or the keys do not open it)
    storages_missing = {**settings.STORAGES}
    storages_missing["default"] = {
        **settings.STORAGES["default"],
        "OPTIONS": {**settings.STORAGES["default"]["OPTIONS"], "bucket_name": "no-such-bucket"},
    }
    settings.STORAGES = storages_missing

    # Then it is not ready, and names the part that fails
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["failing"] == ["storage"]


def test_a_file_refused_after_it_was_stored_leaves_no_object_and_no_job(s3, admin):
    from django.core.exceptions import ValidationError

    from crm.models import TabularImportJob

    # Given a CSV whose first row names no column
    upload = SimpleUploadedFile("blank.csv", b",,\na,b,c\n")

    # When it is uploaded for import, it is refused with the reason
    with pytest.raises(ValidationError, match="no header row"):
        imports.tabular_import_create(
            user=admin, kind=registry.tabular.get("contacts"), upload=upload, mode="both"
        )

    # Then neither the job nor its object is kept
    assert not TabularImportJob.objects.exists()
    assert keys(s3) == set()
