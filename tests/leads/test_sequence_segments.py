"""Enrolling a segment of leads in a sequence: a background job that enrols the leads the user
may see in chunks, skipping those already enrolled, without consent, unsubscribed or closed."""

import pytest
from django.urls import reverse
from django.utils import timezone

from crm.faults import SimulatedKill
from crm.models import Activity
from crm.segments.choices import SegmentTarget
from leads.choices import EnrollmentState, LeadStatus, SegmentEnrolmentStatus
from leads.models import Enrollment, SegmentEnrolment
from leads.services import sequences
from leads.services.segment_enrolments import (
    segment_enrolment_claim,
    segment_enrolment_problems,
    segment_enrolment_queue,
    segment_enrolment_run,
)
from leads.tasks import segment_enrolment_run as segment_enrolment_task
from tests.factories.leads import LeadFactory, SequenceFactory, SequenceStepFactory
from tests.factories.segments import SegmentFactory, condition, group
from tests.visibility import assert_hidden

pytestmark = pytest.mark.django_db


@pytest.fixture
def sequence(db):
    sequence = SequenceFactory(name="Welcome")
    SequenceStepFactory(sequence=sequence, position=1, delay_days=2)
    return sequence


def vp_segment(owner, **kwargs):
    return SegmentFactory(
        owner=owner,
        target=SegmentTarget.LEAD,
        definition=group("and", condition("title", "contains", "VP")),
        **kwargs,
    )


def vp(owner, **kwargs):
    kwargs.setdefault("marketing_consent", True)
    return LeadFactory(owner=owner, title="VP Sales", **kwargs)


def enrol(segment, sequence, user, **kwargs):
    """Queue the job and run it the way the worker does."""
    job = segment_enrolment_queue(segment=segment, sequence=sequence, user=user)
    return segment_enrolment_run(job_id=job.pk, **kwargs)


def counts(job):
    return (job.members, job.enrolled, job.already, job.no_consent, job.closed, job.skipped)


@pytest.fixture
def mixed(rep, rep2, sequence):
    """A segment of 9 of the rep's leads: 3 join, 1 already enrolled, 3 without consent or
    address or unsubscribed, 2 closed; plus one of rep2's and one outside the segment."""
    joining = [vp(rep), vp(rep, status=LeadStatus.WORKING)]
    already = vp(rep)
    sequences.lead_enrol(lead=already, sequence=sequence)
    vp(rep, marketing_consent=False)
    vp(rep, unsubscribed_at=timezone.now())
    vp(rep, email="")
    vp(rep, status=LeadStatus.QUALIFIED)
    vp(rep, status=LeadStatus.CONVERTED)
    joining.append(vp(rep))
    vp(rep2)  # not the rep's: not enrolled by them, not counted
    LeadFactory(owner=rep, title="Engineer", marketing_consent=True)  # outside the segment
    return {"segment": vp_segment(rep), "joining": joining, "already": already}


@pytest.mark.parametrize("chunk_size", [1, 2, 4, 20_000])
def test_a_segment_joins_once_with_each_skip_counted_whatever_the_chunks(
    mixed, rep, sequence, chunk_size
):
    job = enrol(mixed["segment"], sequence, rep, chunk_size=chunk_size)

    assert job.status == SegmentEnrolmentStatus.DONE and job.finished_at and job.percent == 100
    assert job.total == 9
    assert counts(job) == (9, 3, 1, 3, 2, 6)
    joined = Enrollment.objects.filter(sequence=sequence).exclude(lead=mixed["already"])
    assert {e.lead_id for e in joined} == {lead.pk for lead in mixed["joining"]}
    for enrollment in joined:
        assert enrollment.state == EnrollmentState.ACTIVE
        assert enrollment.next_position == 1 and enrollment.enrolled_by == rep
        assert enrollment.next_step_at > timezone.now() + timezone.timedelta(days=1)
    assert Activity.objects.filter(summary__contains="3 leads of the segment").count() == 1

    again = enrol(mixed["segment"], sequence, rep, chunk_size=chunk_size)
    assert counts(again) == (9, 0, 4, 3, 2, 9)
    assert Enrollment.objects.filter(sequence=sequence).count() == 4


def test_a_crash_mid_way_resumes_from_the_last_chunk_and_enrols_nobody_twice(mixed, rep, sequence):
    # Given a run that dies after two committed chunks of two leads
    job = segment_enrolment_queue(segment=mixed["segment"], sequence=sequence, user=rep)
    with pytest.raises(SimulatedKill):
        segment_enrolment_run(job_id=job.pk, owner="first", chunk_size=2, crash_after_chunks=2)
    job.refresh_from_db()
    assert job.status == SegmentEnrolmentStatus.RUNNING and job.members == 4
    assert 0 < job.percent < 100
    halfway = Enrollment.objects.filter(sequence=sequence).count()

    # When a second message for the job arrives while the first run still holds it
    assert segment_enrolment_run(job_id=job.pk, owner="other").members == 4
    # And the retried task (the same token) takes it up again
    job = segment_enrolment_run(job_id=job.pk, owner="first", chunk_size=2)

    # Then every member was counted once and nobody enrolled twice
    assert counts(job) == (9, 3, 1, 3, 2, 6)
    assert Enrollment.objects.filter(sequence=sequence).count() == 4 >= halfway
    assert Activity.objects.filter(summary__contains="3 leads of the segment").count() == 1
    # And a late duplicate run of a finished job changes nothing
    assert counts(segment_enrolment_run(job_id=job.pk, owner="late")) == counts(job)


def test_a_run_gone_silent_is_taken_over_when_its_lease_runs_out(mixed, rep, sequence):
    job = segment_enrolment_queue(segment=mixed["segment"], sequence=sequence, user=rep)
    with pytest.raises(SimulatedKill):
        segment_enrolment_run(job_id=job.pk, owner="dead", chunk_size=2, crash_after_chunks=1)
    assert not segment_enrolment_claim(job_id=job.pk, owner="new")
    SegmentEnrolment.objects.filter(pk=job.pk).update(
        lease_until=timezone.now() - timezone.timedelta(seconds=1)
    )
    assert segment_enrolment_claim(job_id=job.pk, owner="new")
    job = segment_enrolment_run(job_id=job.pk, owner="new", chunk_size=2)
    assert counts(job) == (9, 3, 1, 3, 2, 6)
    assert (job.lease_owner, job.lease_until) == ("", None)


def test_the_task_returns_quietly_when_the_job_is_gone():
    assert segment_enrolment_task.run(987654) == "gone"


def test_a_deleted_segment_fails_the_job_with_a_message(mixed, rep, sequence):
    job = segment_enrolment_queue(segment=mixed["segment"], sequence=sequence, user=rep)
    mixed["segment"].delete()
    job = segment_enrolment_run(job_id=job.pk)
    assert job.status == SegmentEnrolmentStatus.FAILED and "segment was deleted" in job.message
    assert Enrollment.objects.filter(sequence=sequence).count() == 1


def test_enrolled_leads_get_the_first_step(rep, sequence):
    lead = vp(rep)
    enrol(vp_segment(rep), sequence, rep)
    later = timezone.now() + timezone.timedelta(days=3)
    assert sequences.sequences_run_due(now=later) == {"email": 1}
    assert Enrollment.objects.get(lead=lead).steps_done == 1


def test_a_contact_segment_cannot_be_enrolled(rep, sequence):
    with pytest.raises(ValueError):
        segment_enrolment_queue(segment=SegmentFactory(owner=rep), sequence=sequence, user=rep)


def test_the_sequence_page_queues_the_job_and_shows_its_progress_then_the_counts(
    rep_client, rep, sequence, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    # Given a segment the rep may use
    vp(rep)
    vp(rep, marketing_consent=False)
    segment = vp_segment(rep)
    page = rep_client.get(sequence.get_absolute_url())
    assert segment.name in page.content.decode()

    # When the rep submits it
    url = reverse("leads:sequence_enrol_segment", args=[sequence.pk])
    with (
        django_capture_on_commit_callbacks() as callbacks,
        django_assert_max_num_queries(10),  # whatever the segment's size
    ):
        response = rep_client.post(url, {"segment": segment.pk})

    # Then a queued job is shown, polled by HTMX, and its task waits for the commit
    job = SegmentEnrolment.objects.get()
    assert job.status == SegmentEnrolmentStatus.QUEUED and job.created_by == rep
    assert response.status_code == 302 and response.url == job.get_absolute_url()
    assert len(callbacks) == 1 and not Enrollment.objects.exists()
    text = rep_client.get(response.url).content.decode()
    assert "Queued" in text and 'hx-trigger="every 1s"' in text
    with django_assert_max_num_queries(6):
        partial = rep_client.get(response.url, HTTP_HX_REQUEST="true")
    assert "<html" not in partial.content.decode() and "Queued" in partial.content.decode()

    # When the worker has run it
    segment_enrolment_run(job_id=job.pk)  # what the task does

    # Then the poll shows the final counts and stops polling
    with django_assert_max_num_queries(6):
        partial = rep_client.get(response.url, HTTP_HX_REQUEST="true").content.decode()
    assert "Done" in partial and "hx-trigger" not in partial
    assert "1 of 2 leads enrolled; skipped 1 without consent or unsubscribed." in partial
    with django_assert_max_num_queries(14):
        text = rep_client.get(sequence.get_absolute_url()).content.decode()
    assert "1 of 2 leads enrolled" in text
    assert f"1 lead of the segment “{segment.name}” enrolled by" in text  # the history
    assert Enrollment.objects.filter(sequence=sequence).count() == 1


def test_the_sequence_page_query_count_does_not_grow_with_jobs(
    rep_client, rep, sequence, django_assert_max_num_queries
):
    segment = vp_segment(rep)
    vp(rep)
    for _ in range(3):
        enrol(segment, sequence, rep)
    with django_assert_max_num_queries(14):
        assert rep_client.get(sequence.get_absolute_url()).status_code == 200


def test_a_failed_job_can_be_resumed(
    rep_client, rep, sequence, mixed, django_capture_on_commit_callbacks
):
    job = segment_enrolment_queue(segment=mixed["segment"], sequence=sequence, user=rep)
    SegmentEnrolment.objects.filter(pk=job.pk).update(
        status=SegmentEnrolmentStatus.FAILED, message="Database error: gone away"
    )
    page = rep_client.get(job.get_absolute_url()).content.decode()
    assert "Database error" in page and "Resume" in page
    with django_capture_on_commit_callbacks() as callbacks:
        response = rep_client.post(reverse("leads:segment_enrolment_resume", args=[job.pk]))
    assert response.status_code == 302 and len(callbacks) == 1
    job.refresh_from_db()
    assert job.status == SegmentEnrolmentStatus.QUEUED and not job.message
    assert counts(segment_enrolment_run(job_id=job.pk)) == (9, 3, 1, 3, 2, 6)


def test_bad_input_re_renders_the_page_with_the_error(rep_client, rep, sequence):
    url = reverse("leads:sequence_enrol_segment", args=[sequence.pk])
    contacts = SegmentFactory(owner=rep)  # visible, but holds contacts
    for data in ({}, {"segment": ""}, {"segment": "x"}, {"segment": contacts.pk}):
        response = rep_client.post(url, data)
        assert response.status_code == 200
        assert response.context["segment_form"].errors["segment"]
        assert "is-invalid" in response.content.decode()
    assert not SegmentEnrolment.objects.exists()
    assert not Enrollment.objects.exists()


def test_another_reps_private_segment_hidden_sequences_and_jobs_answer_404(
    rep_client, agent_client, rep, rep2, sequence
):
    private = vp_segment(rep2)
    vp(rep2)
    url = reverse("leads:sequence_enrol_segment", args=[sequence.pk])
    assert_hidden(rep_client, post=[(url, {"segment": private.pk})])
    paused = SequenceFactory(is_active=False)
    mine = vp_segment(rep)
    assert_hidden(
        rep_client,
        post=[(reverse("leads:sequence_enrol_segment", args=[paused.pk]), {"segment": mine.pk})],
    )
    assert_hidden(agent_client, post=[(url, {"segment": mine.pk})])
    assert not SegmentEnrolment.objects.exists()
    assert not Enrollment.objects.exists()

    theirs = segment_enrolment_queue(segment=private, sequence=sequence, user=rep2)
    assert_hidden(
        rep_client,
        get=[theirs.get_absolute_url()],
        post=[(reverse("leads:segment_enrolment_resume", args=[theirs.pk]), {})],
    )
    assert_hidden(agent_client, get=[theirs.get_absolute_url()])
    assert (
        theirs.get_absolute_url()
        not in rep_client.get(sequence.get_absolute_url()).content.decode()
    )


def test_a_shared_segment_enrols_only_the_leads_the_user_sees(rep, rep2, manager, sequence):
    mine, theirs = vp(rep), vp(rep2)
    shared = vp_segment(manager, shared=True)
    job = enrol(shared, sequence, rep)
    assert (job.members, job.enrolled) == (1, 1)
    assert list(Enrollment.objects.values_list("lead_id", flat=True)) == [mine.pk]
    job = enrol(shared, sequence, manager)
    assert (job.enrolled, job.already) == (1, 1)
    assert Enrollment.objects.filter(lead=theirs).exists()


def test_admins_read_the_jobs_in_django_admin(admin_client_, rep, mixed, sequence):
    job = enrol(mixed["segment"], sequence, rep)
    listing = admin_client_.get(reverse("admin:leads_segmentenrolment_changelist"))
    assert listing.status_code == 200 and mixed["segment"].name in listing.content.decode()
    page = admin_client_.get(reverse("admin:leads_segmentenrolment_change", args=[job.pk]))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()


def test_a_stalled_job_offers_to_resume_and_a_fresh_one_does_not(
    rep_client, rep, sequence, mixed, django_capture_on_commit_callbacks
):
    # Given a job whose run died after its first chunk
    job = segment_enrolment_queue(segment=mixed["segment"], sequence=sequence, user=rep)
    with pytest.raises(SimulatedKill):
        segment_enrolment_run(job_id=job.pk, owner="dead", chunk_size=2, crash_after_chunks=1)
    resume = reverse("leads:segment_enrolment_resume", args=[job.pk])
    assert "Resume" not in rep_client.get(job.get_absolute_url()).content.decode()
    with django_capture_on_commit_callbacks() as callbacks:
        rep_client.post(resume)
    assert not callbacks  # still running: nothing to resume
    SegmentEnrolment.objects.filter(pk=job.pk).update(
        lease_until=timezone.now() - timezone.timedelta(seconds=1)
    )  # and its lease ran out
    # When the user resumes it
    assert "Resume" in rep_client.get(job.get_absolute_url()).content.decode()
    with django_capture_on_commit_callbacks() as callbacks:
        rep_client.post(resume)
    # Then a new run takes it over and finishes it with the right totals
    assert len(callbacks) == 1
    assert counts(segment_enrolment_run(job_id=job.pk, owner="new")) == (9, 3, 1, 3, 2, 6)


def test_a_job_deleted_mid_way_stops_quietly(rep, sequence, mixed):
    job = segment_enrolment_queue(segment=mixed["segment"], sequence=sequence, user=rep)
    with pytest.raises(SimulatedKill):
        segment_enrolment_run(job_id=job.pk, owner="t", chunk_size=2, crash_after_chunks=1)
    sequence.delete()  # takes its enrolments and the job with it
    assert segment_enrolment_run(job_id=job.pk, owner="t", chunk_size=2) is None


def test_the_sweep_takes_up_a_job_whose_message_was_lost_or_whose_worker_died(
    mixed, rep, sequence, monkeypatch
):
    from leads.services.segment_enrolments import segment_enrolment_sweep

    woken = []
    monkeypatch.setattr(segment_enrolment_task, "delay", lambda job_id: woken.append(job_id))
    # Given a job whose message was lost, and one whose worker died after a chunk
    lost = segment_enrolment_queue(segment=mixed["segment"], sequence=sequence, user=rep)
    dead = segment_enrolment_queue(segment=mixed["segment"], sequence=sequence, user=rep)
    with pytest.raises(SimulatedKill):
        segment_enrolment_run(job_id=dead.pk, owner="dead", chunk_size=2, crash_after_chunks=1)
    assert segment_enrolment_sweep() == 0  # the lost one is fresh, the dead one's lease holds

    # When the sweep runs after the queue's grace and the dead run's lease
    SegmentEnrolment.objects.filter(pk=lost.pk).update(
        created_at=timezone.now() - timezone.timedelta(minutes=1)
    )
    SegmentEnrolment.objects.filter(pk=dead.pk).update(
        lease_until=timezone.now() - timezone.timedelta(seconds=1)
    )
    [problem] = segment_enrolment_problems(10)
    assert problem.pk == dead.pk and "worker stopped" in problem.state
    assert segment_enrolment_sweep() == 2 and sorted(woken) == sorted([lost.pk, dead.pk])

    # Then the runs it woke finish both, each member counted and enrolled once
    for job in (lost, dead):
        job = segment_enrolment_run(job_id=job.pk, chunk_size=2)
        assert job.status == SegmentEnrolmentStatus.DONE
    lost.refresh_from_db()
    dead.refresh_from_db()
    assert lost.members == dead.members == 9 and lost.enrolled + dead.enrolled == 3
    assert Enrollment.objects.filter(sequence=sequence).count() == 4
    assert segment_enrolment_sweep() == 0 and segment_enrolment_problems(10) == []


def test_an_unexpected_error_fails_the_job_for_a_person_to_resume(
    mixed, rep, sequence, monkeypatch
):
    from leads.services import segment_enrolments

    job = segment_enrolment_queue(segment=mixed["segment"], sequence=sequence, user=rep)

    def broken(chunk, job):
        raise ValueError("bad")

    monkeypatch.setattr(segment_enrolments, "_enrol", broken)
    with pytest.raises(ValueError):
        segment_enrolment_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == SegmentEnrolmentStatus.FAILED and "unexpected error" in job.message
    assert job.lease_owner == "" and segment_enrolments.segment_enrolment_sweep() == 0
    monkeypatch.undo()
    assert segment_enrolments.segment_enrolment_retry(job.pk)
    assert counts(segment_enrolment_run(job_id=job.pk)) == (9, 3, 1, 3, 2, 6)
