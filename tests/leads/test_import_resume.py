"""Imports are durable jobs: a run leases the job, a second run leaves it alone, and the sweep
takes up a job whose worker died or whose message was lost, from the last committed chunk."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from crm.faults import SimulatedKill
from crm.registry import work
from leads import tasks
from leads.choices import ImportStatus
from leads.models import ImportJob, Lead
from leads.services import imports

pytestmark = [pytest.mark.django_db, pytest.mark.pgbouncer]

ROWS = 25
GOOD = "".join(f"L{i},l{i}@x.example\n" for i in range(ROWS))


def _job(user, text="Last name,Email\n" + GOOD, **fields):
    upload = SimpleUploadedFile("leads.csv", text.encode(), content_type="text/csv")
    job = imports.import_job_create(user=user, upload=upload)
    ImportJob.objects.filter(pk=job.pk).update(**{"status": ImportStatus.QUEUED, **fields})
    return job


@pytest.fixture
def woken(monkeypatch):
    """The job ids the sweep wakes a worker for (the broker is not involved)."""
    ids = []
    monkeypatch.setattr(tasks.import_run, "delay", lambda job_id: ids.append(job_id))
    return ids


def _lease_runs_out(job):
    ImportJob.objects.filter(pk=job.pk).update(lease_until=timezone.now() - timedelta(seconds=1))


def test_a_second_run_finds_the_live_lease_and_does_nothing(admin):
    job = _job(admin)
    with pytest.raises(SimulatedKill):
        imports.import_run(job_id=job.pk, chunk_size=10, owner="first", crash_after_chunks=1)

    other = imports.import_run(job_id=job.pk, chunk_size=10, owner="second")

    assert (other.status, other.lease_owner, other.processed_rows) == (
        ImportStatus.RUNNING,
        "first",
        11,
    )
    assert Lead.objects.count() == 10


def test_killed_twice_the_sweep_finishes_it_with_every_good_row_once(admin, woken):
    # Given a job whose worker was killed after each of its first two chunks
    job = _job(admin, text="Last name,Email\n" + GOOD + ",no-name@x.example\n")
    for owner in ("first", "second"):
        with pytest.raises(SimulatedKill):
            imports.import_run(job_id=job.pk, chunk_size=10, owner=owner, crash_after_chunks=1)
        assert imports.import_sweep() == 0  # the lease still holds: nothing to wake
        _lease_runs_out(job)
        # When the sweep runs after the lease ran out
        assert imports.import_sweep() == 1 and woken[-1] == job.pk
    job = imports.import_run(job_id=job.pk, chunk_size=10, owner="third")

    # Then it finished by itself, every good row once, the bad one reported once
    assert job.status == ImportStatus.DONE and job.runs == 3
    assert (job.created_count, job.error_count, job.processed_rows) == (ROWS, 1, ROWS + 2)
    assert Lead.objects.count() == ROWS
    assert job.row_errors.count() == 1
    assert (job.lease_owner, job.lease_until) == ("", None)
    assert imports.import_sweep() == 0


def test_the_sweep_starts_a_queued_job_whose_message_was_lost_but_not_a_fresh_one(admin, woken):
    lost = _job(admin, created_at=timezone.now() - timedelta(minutes=2))
    fresh = _job(admin)  # its message may still be on the way
    _job(admin, status=ImportStatus.UPLOADED, created_at=timezone.now() - timedelta(hours=1))
    _job(admin, status=ImportStatus.FAILED, created_at=timezone.now() - timedelta(hours=1))

    assert imports.import_sweep() == 1 and woken == [lost.pk]
    assert imports.import_sweep(now=timezone.now() + timedelta(minutes=1)) == 2
    assert woken[1:] == [lost.pk, fresh.pk]
    # and the work sweep runs it too
    assert work.get("lead_imports").call("sweep") == 1


def test_a_run_that_lost_its_lease_stops_without_writing(admin):
    job = _job(admin)
    with pytest.raises(SimulatedKill):
        imports.import_run(job_id=job.pk, chunk_size=10, owner="slow", crash_after_chunks=1)
    _lease_runs_out(job)
    ImportJob.objects.filter(pk=job.pk).update(lease_owner="new", lease_until=timezone.now())
    job.refresh_from_db()

    with pytest.raises(imports.LeaseLost):
        imports._commit_chunk(job, [(12, {"last_name": "X"}, ["X"])], imports._lookups(), "slow")
    assert Lead.objects.count() == 10


def test_an_unexpected_error_fails_the_job_and_resume_continues_it(
    admin, monkeypatch, django_capture_on_commit_callbacks, woken
):
    job = _job(admin)
    real = imports._process_chunk
    calls = []

    def broken(job, chunk, lookups):
        calls.append(1)
        if len(calls) == 2:
            raise ValueError("bad data")
        return real(job, chunk, lookups)

    monkeypatch.setattr(imports, "_process_chunk", broken)
    with pytest.raises(ValueError):
        imports.import_run(job_id=job.pk, chunk_size=10)
    job.refresh_from_db()
    assert job.status == ImportStatus.FAILED and "unexpected error" in job.message
    assert (job.lease_owner, job.processed_rows) == ("", 11)
    assert imports.import_sweep() == 0  # failed jobs wait for a person
    [problem] = work.get("lead_imports").call("problems", 10)
    assert problem.pk == job.pk and problem.state == "Failed"

    with django_capture_on_commit_callbacks(execute=True):
        assert work.get("lead_imports").call("retry", job.pk)
    assert woken == [job.pk]
    job = imports.import_run(job_id=job.pk, chunk_size=10)
    assert job.status == ImportStatus.DONE and Lead.objects.count() == ROWS


def test_the_progress_page_says_a_stopped_job_resumes_by_itself_then_that_it_resumed(
    admin_client_, admin
):
    job = _job(admin)
    with pytest.raises(SimulatedKill):
        imports.import_run(job_id=job.pk, chunk_size=10, owner="dead", crash_after_chunks=1)
    url = reverse("leads:import_progress", args=[job.pk])
    page = admin_client_.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "import-stalled" not in page and "hx-trigger" in page  # running: the bar polls

    _lease_runs_out(job)
    page = admin_client_.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "resumes by itself" in page and "Resume" in page and "hx-trigger" in page
    [problem] = work.get("lead_imports").call("problems", 10)
    assert "worker stopped" in problem.state

    imports.import_run(job_id=job.pk, chunk_size=10)
    page = admin_client_.get(url, HTTP_HX_REQUEST="true").content.decode()
    assert "Resumed by itself" in page and "import-stalled" not in page
    assert "hx-trigger" not in page and "100%" in page
