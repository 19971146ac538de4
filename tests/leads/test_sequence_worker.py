"""A real Celery worker runs nurture steps; killed mid-run and replaced, every due email is still
sent exactly once (the worker kit is tests/worker.py)."""

import json
import signal

import pytest
from django.utils import timezone

from crm.choices import OutboxStatus
from crm.models import OutboundEmail
from leads.choices import EnrollmentState
from leads.models import Enrollment
from leads.tasks import sequences_run_due
from tests.factories.crm import UserFactory
from tests.factories.leads import LeadFactory, SequenceFactory, SequenceStepFactory
from tests.worker import publishing_to, wait_until, worker_broker, worker_env, worker_started

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

LEADS = 150
DEADLINE_SECONDS = 120


def _drop_torn_messages(folder):
    """A process killed while publishing leaves a half-written file in the filesystem broker (a
    development transport; Redis publishes atomically). Such a message is lost, not repeated:
    beat's next run covers for it, as the second worker's runs do here."""
    for path in folder.iterdir():
        try:
            json.loads(path.read_text() or "x")
        except ValueError:
            path.unlink()


def test_killed_worker_never_sends_a_nurture_email_twice(tmp_path):
    # Given many consenting leads with a nurture email due now, and one who withdrew consent
    owner = UserFactory(username="owner")
    sequence = SequenceFactory()
    SequenceStepFactory(sequence=sequence, position=1, delay_days=0)
    leads = LeadFactory.create_batch(LEADS, owner=owner, marketing_consent=True)
    silent = LeadFactory(owner=owner, marketing_consent=False)
    now = timezone.now()
    Enrollment.objects.bulk_create(
        Enrollment(lead=lead, sequence=sequence, next_position=1, next_step_at=now)
        for lead in [*leads, silent]
    )
    var_dir, mail_dir, log_path = tmp_path / "var", tmp_path / "mail", tmp_path / "worker.log"
    mail_dir.mkdir()
    broker_dir = var_dir / "broker"
    env = worker_env(var_dir=var_dir, mail_dir=mail_dir)

    def steps_done():
        return Enrollment.objects.filter(steps_done=1).count()

    with publishing_to(**worker_broker(var_dir)):
        # When a worker starts the run and is killed (SIGKILL) part-way through
        with worker_started(env, log_path) as first:
            sequences_run_due.delay()
            wait_until(
                lambda: steps_done() > 0,
                what="the first claimed step",
                log_path=log_path,
                worker=first,
                timeout=DEADLINE_SECONDS,
                interval=0.02,
            )
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=15)
        done_at_kill = steps_done()
        _drop_torn_messages(broker_dir / "in")
        # And a new worker runs the schedule again (as beat would), twice
        with worker_started(env, log_path) as second:
            sequences_run_due.delay()
            sequences_run_due.delay()
            wait_until(
                lambda: not Enrollment.objects.filter(state=EnrollmentState.ACTIVE).exists(),
                what="every enrolment to finish",
                log_path=log_path,
                worker=second,
                timeout=DEADLINE_SECONDS,
                interval=0.02,
            )
            wait_until(
                lambda: not OutboundEmail.objects.filter(status=OutboxStatus.QUEUED).exists(),
                what="the outbox to drain",
                log_path=log_path,
                worker=second,
                timeout=DEADLINE_SECONDS,
                interval=0.02,
            )

    # Then every consenting lead got its email once, and the one without consent none
    assert 0 < done_at_kill < LEADS + 1, f"the kill came at {done_at_kill} of {LEADS}"
    emails = list(OutboundEmail.objects.values_list("to_email", "status"))
    assert sorted(e for e, _ in emails) == sorted(lead.email for lead in leads)
    files = [p.read_text() for p in mail_dir.iterdir()]
    delivered = [
        line.split(":", 1)[1].strip()
        for text in files
        for line in text.splitlines()
        if line.startswith("To:")
    ]
    assert len(delivered) == len(set(delivered)), "an address got the email twice"
    sent = {e for e, status in emails if status == OutboxStatus.SENT}
    # a message being handed to SMTP at the moment of the kill stays "sending" (never resent)
    assert set(delivered) >= sent and len(sent) >= LEADS - 1
    assert silent.email not in delivered
