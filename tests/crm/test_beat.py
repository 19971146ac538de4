"""Beat (crm.beat): one leader by a lease row (taken, renewed, refused, taken over and given up;
two schedulers, and two real beat processes, on one database of which only the leader sends),
and the schedule kept through a database outage.

django-celery-beat's scheduler rereads every schedule from the database every five minutes; a
database that does not answer at that moment made beat exit (and with it every automation, and
``make run``'s whole stack). The CRM's scheduler keeps the schedule it has."""

import contextlib
import json
import logging
import re
import time
from datetime import datetime, timedelta

import pytest
from django.db import OperationalError, connection
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from crm import beat
from crm.beat import DatabaseScheduler, lead_give_up, lead_take
from crm.celery import app as celery_app
from crm.models import BeatLeader
from tests.faults import Process, beat_command
from tests.worker import filesystem_broker, wait_until, worker_env

pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def expire_lease():
    BeatLeader.objects.update(lease_until=timezone.now() - timedelta(seconds=1))


# --- the schedule through an outage ---------------------------------------------------------------


@contextlib.contextmanager
def database_unreachable():
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict["HOST"] = "/nonexistent-crm-socket-folder"
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


def test_the_full_reread_while_the_database_is_down_keeps_the_schedule():
    scheduler = DatabaseScheduler(app=celery_app, lazy=False)
    before = set(scheduler.schedule)
    assert "work-sweep" in before
    scheduler.tick()  # it leads

    # The five-minute full reread falls due while the database does not answer
    scheduler._last_full_sync -= timedelta(minutes=10)
    with database_unreachable():
        during = set(scheduler.schedule)
        scheduler.tick()

    assert during == before
    # and once it answers, the next read works as before
    scheduler._last_full_sync -= timedelta(minutes=10)
    assert set(scheduler.schedule) == before


# --- the lease ------------------------------------------------------------------------------------


def test_the_first_beat_takes_the_lease():
    assert lead_take("beat-a", seconds=30) == "beat-a"

    row = BeatLeader.objects.get()
    assert row.owner == "beat-a"
    assert 25 < (row.lease_until - timezone.now()).total_seconds() <= 30


def test_the_holder_renews_its_lease():
    lead_take("beat-a", seconds=5)
    first = BeatLeader.objects.get().lease_until

    assert lead_take("beat-a", seconds=30) == "beat-a"

    assert BeatLeader.objects.get().lease_until > first


def test_another_beat_is_refused_while_the_lease_runs_and_told_who_leads():
    lead_take("beat-a", seconds=30)
    until = BeatLeader.objects.get().lease_until

    assert lead_take("beat-b", seconds=30) == "beat-a"

    row = BeatLeader.objects.get()
    assert (row.owner, row.lease_until) == ("beat-a", until)


def test_another_beat_takes_over_once_the_lease_has_run_out():
    lead_take("beat-a", seconds=30)
    expire_lease()

    assert lead_take("beat-b", seconds=30) == "beat-b"
    # The old leader, back, is refused now.
    assert lead_take("beat-a", seconds=30) == "beat-b"


def test_a_lease_given_up_is_taken_at_once():
    lead_take("beat-a", seconds=30)

    assert lead_give_up("beat-b") is False  # not its lease: nothing changes
    assert lead_take("beat-b", seconds=30) == "beat-a"
    assert lead_give_up("beat-a") is True

    assert lead_take("beat-b", seconds=30) == "beat-b"


def test_a_lost_row_is_made_again():
    # Given a table emptied (a restore, a flush)
    lead_take("beat-a", seconds=30)
    BeatLeader.objects.all().delete()

    assert lead_take("beat-b", seconds=30) == "beat-b"


# --- two schedulers -------------------------------------------------------------------------------


@pytest.fixture
def probe():
    """A periodic task due now (last run two minutes ago, every minute)."""
    every, _ = IntervalSchedule.objects.get_or_create(every=60, period=IntervalSchedule.SECONDS)
    return PeriodicTask.objects.create(
        name="beat-probe",
        task="celery.accumulate",
        interval=every,
        args='["beat-probe"]',
        last_run_at=timezone.now() - timedelta(minutes=2),
    )


@pytest.fixture
def sent(monkeypatch):
    """Names of the periodic tasks each scheduler sends, by owner (nothing reaches a broker)."""
    sends: dict[str, list[str]] = {}

    def apply_entry(self, entry, producer=None):
        sends.setdefault(self.owner, []).append(entry.name)

    monkeypatch.setattr(DatabaseScheduler, "apply_entry", apply_entry)
    return sends


def scheduler(name: str) -> DatabaseScheduler:
    made = DatabaseScheduler(app=celery_app)
    made._owner = name
    return made


def ticks(scheduler: DatabaseScheduler, n: int = 5) -> None:
    for _ in range(n):
        scheduler.tick()


def test_only_the_leader_sends_and_a_take_over_does_not_send_again(
    probe, sent, settings, tmp_path, caplog
):
    settings.BEAT_HEARTBEAT_FILE = str(tmp_path / "beat")
    caplog.set_level(logging.INFO, logger="crm.beat")
    a, b = scheduler("beat-a"), scheduler("beat-b")

    # When both tick
    ticks(a)
    ticks(b)

    # Then the first one leads and sends the due task once; the other sends nothing
    assert sent.get("beat-a", []).count("beat-probe") == 1
    assert "beat-b" not in sent
    assert "beat: leading (beat-a)" in caplog.text
    assert "beat: standing by (leader beat-a)" in caplog.text
    # and the run is saved at once, not at django-celery-beat's three-minute sync
    probe.refresh_from_db()
    assert timezone.now() - probe.last_run_at < timedelta(seconds=10)
    assert probe.total_run_count == 1
    # The follower ticks every few seconds, its heartbeat kept too
    assert b.tick() == b.standby_seconds() == 5.0
    assert (tmp_path / "beat").exists()

    # When the leader stops, the follower takes over at its next tick
    a.close()
    assert "beat: gave the lead up" in caplog.text
    ticks(b)

    # Then it leads with the schedule as saved: the task just sent is not sent again
    assert "beat: leading (beat-b)" in caplog.text
    assert "beat-probe" not in sent.get("beat-b", [])
    assert BeatLeader.objects.get().owner == "beat-b"


def test_a_follower_takes_over_a_leader_that_vanished_once_its_lease_runs_out(probe, sent):
    a, b = scheduler("beat-a"), scheduler("beat-b")
    ticks(a, 1)
    # Given the leader died (no close, no renewal) and the task fell due again meanwhile
    PeriodicTask.objects.filter(pk=probe.pk).update(
        last_run_at=timezone.now() - timedelta(minutes=2)
    )
    ticks(b)
    assert "beat-b" not in sent  # the lease still runs

    expire_lease()
    ticks(b)

    assert sent["beat-b"].count("beat-probe") == 1


def test_a_leader_without_the_database_sends_only_while_its_lease_is_surely_its_own(
    monkeypatch, caplog
):
    a = scheduler("beat-a")
    assert a.hold_lead() is True

    def down(owner, *, seconds):
        raise OperationalError("the database does not answer")

    monkeypatch.setattr(beat, "lead_take", down)
    assert a.hold_lead() is True  # within the lease it took

    a._lead_until = 0.0  # the lease it took has run out by now
    assert a.hold_lead() is False
    assert "beat: standing by (the lease could not be renewed" in caplog.text
    assert a.hold_lead() is False


# --- two real beat processes ----------------------------------------------------------------------

SEND_LINE = re.compile(
    r"^\[(?P<at>[\d-]+ [\d:,]+): INFO/MainProcess\] Scheduler: Sending due task beat-pair-probe ",
    re.MULTILINE,
)


def send_times(*beats: Process) -> list[float]:
    """When the beats' logs say they sent the probe, sorted."""
    return sorted(
        datetime.strptime(match["at"], "%Y-%m-%d %H:%M:%S,%f").timestamp()
        for beat in beats
        for match in SEND_LINE.finditer(beat.log_text())
    )


def probe_messages(var_dir) -> int:
    """Messages of the probe in the filesystem broker (no worker consumes them)."""
    count = 0
    for path in (var_dir / "broker" / "in").glob("*.msg"):
        headers = json.loads(path.read_text()).get("headers", {})
        count += headers.get("periodic_task_name") == "beat-pair-probe"
    return count


@pytest.mark.worker
def test_two_beat_processes_send_each_due_time_once_and_survive_the_leader_killed(tmp_path):
    # Given a task due every 2 s, and two beats on the test database with a 6 s lease
    lease, every = 6, 2
    interval, _ = IntervalSchedule.objects.get_or_create(
        every=every, period=IntervalSchedule.SECONDS
    )
    PeriodicTask.objects.create(
        name="beat-pair-probe",
        task="celery.accumulate",
        interval=interval,
        args='["beat-pair-probe"]',
    )
    var_dir = tmp_path / "var"
    filesystem_broker(var_dir)
    env = worker_env(var_dir=var_dir, BEAT_LEASE_SECONDS=str(lease), LOG_FORMAT="text")
    beats = []
    for n in (1, 2):
        folder = tmp_path / f"beat-{n}"
        folder.mkdir()
        beats.append(
            Process(
                f"beat-{n}",
                beat_command(folder),
                env={**env, "BEAT_HEARTBEAT_FILE": str(folder / "heartbeat")},
                log_path=tmp_path / f"beat-{n}.log",
            )
        )
    first, second = beats

    def logged(beat: Process, text: str) -> bool:
        return text in beat.log_text()

    try:
        first.start()
        wait_until(
            lambda: logged(first, "beat: leading"),
            what="the first beat to lead",
            log_path=first.log_path,
            timeout=90,
        )
        second.start()
        wait_until(
            lambda: logged(second, "beat: standing by"),
            what="the second to stand by",
            log_path=second.log_path,
            timeout=90,
        )
        time.sleep(10)
        assert not send_times(second)  # it stands by: it sent nothing

        # When the leader is killed outright
        first.kill()
        killed_at = time.time()
        wait_until(
            lambda: logged(second, "beat: leading"),
            what="the take-over",
            log_path=second.log_path,
            timeout=lease + 30,
        )
        took_over_after = time.time() - killed_at
        time.sleep(10)
        second.stop()
    finally:
        for beat in beats:
            beat.stop()

    # Then the follower took over within the lease (plus its tick and the start of its loop)
    assert took_over_after <= lease + 2 + 3, took_over_after
    assert "beat: gave the lead up" in second.log_text()
    # and every send reached the broker once: none twice, none but these. Beat logs a send
    # before it publishes it, so the one the leader logged as it was killed may be missing.
    times = send_times(first, second)
    in_flight = [at for at in send_times(first) if killed_at - at < 1.5]
    published = probe_messages(var_dir)
    assert len(times) - len(in_flight) <= published <= len(times)
    assert len(in_flight) <= 1 and published > 0
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert min(gaps) >= every / 2, gaps  # no due time sent twice
    late = [gap for gap in gaps if gap > every + 1.5]
    # One gap, the take-over: the lease, the follower's tick, the task's interval.
    assert len(late) <= 1 and all(gap <= lease + 2 + every + 3 for gap in late), gaps
    skipped = sum(round(gap / every) - 1 for gap in late)
    due = 1 + round((times[-1] - times[0]) / every)
    assert abs(len(times) + skipped - due) <= 1, (len(times), skipped, due)
