"""Beat's scheduler: django-celery-beat's, one sender however many beats run, kept running
through a database outage.

**One leader.** Every beat takes or renews a lease on the one ``BeatLeader`` row at each tick,
with one conditional statement: the owner renews it, anyone takes it once it has run out
(``BEAT_LEASE_SECONDS``, the database's clock). Only the holder sends due tasks; another beat
ticks every few seconds without sending and takes over when the lease runs out, or at once when
a stopping leader gives it up. A lease row rather than a session-level advisory lock, so it
works through PgBouncer in transaction mode, and needs no Redis. The leader saves each task's
``last_run_at`` right after sending it, and a beat that takes over rereads the schedule from
the database, so it does not send again what the old leader just sent: a take-over costs at
most the lease (a task that fell due meanwhile is sent once, late), and a leader killed
between a send and its save makes that one task go out twice (durable tasks are idempotent).
A leader that cannot reach the database stops sending when its own lease would have run out.

**Outages.** django-celery-beat reads the schedules from the database (editable in the admin)
and rereads all of them every five minutes. Its checks for changes survive a database that does
not answer, but that full reread does not: falling due during an outage, it raised out of beat's
loop and beat exited, which stopped every automation (the sweep included) until someone
restarted it. Here a reread that fails keeps the schedule beat already has (the next full reread
is five minutes on; a change made in the admin is noticed as before once the database answers),
so an outage delays a periodic task by at most its length and never stops beat.
"""

import datetime
import logging
import os
import socket
import time
import uuid

from django.conf import settings
from django.db import DatabaseError, InterfaceError, close_old_connections, connection
from django_celery_beat.schedulers import DatabaseScheduler as BaseDatabaseScheduler

from crm import workers
from crm.models import BeatLeader

logger = logging.getLogger(__name__)


def lead_take(owner: str, *, seconds: int) -> str:
    """Take or renew beat's lease for ``owner`` for ``seconds``; returns who holds it now
    (``owner`` when this beat leads). One statement: the row is made if missing, renewed when
    ``owner`` holds it, taken when its lease has run out, and left alone otherwise."""
    table = connection.ops.quote_name(BeatLeader._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (id, owner, lease_until)"
            " VALUES (1, %s, now() + %s * interval '1 second')"
            " ON CONFLICT (id) DO UPDATE"
            " SET owner = EXCLUDED.owner, lease_until = EXCLUDED.lease_until"
            f" WHERE {table}.owner = EXCLUDED.owner OR {table}.lease_until <= now()"
            " RETURNING owner",
            [owner, seconds],
        )
        if cursor.fetchone() is not None:
            return owner
    holder = BeatLeader.objects.filter(pk=1).values_list("owner", flat=True).first()
    return holder or ""


def lead_give_up(owner: str) -> bool:
    """End ``owner``'s lease now, so another beat takes over at its next tick; True when
    ``owner`` held it."""
    table = connection.ops.quote_name(BeatLeader._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET lease_until = now() WHERE id = 1 AND owner = %s", [owner]
        )
        return cursor.rowcount == 1


def beat_owner() -> str:
    """This process's name on the lease: host, process id and a random part (a pid is reused
    across containers)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class DatabaseScheduler(BaseDatabaseScheduler):
    """``celery beat --scheduler crm.beat:DatabaseScheduler`` (bin/dev, docker-compose.yml).

    Each turn of beat's loop also touches ``BEAT_HEARTBEAT_FILE`` (at most every
    ``WORKER_HEARTBEAT_SECONDS``), which ``manage.py worker_health --beat`` checks, whether
    this beat leads or stands by."""

    _touched_at = 0.0
    #: True while this beat holds the lease, False while it stands by, None before its first tick.
    _leading = None
    #: The holder this beat last reported standing by for.
    _leader_seen = None
    #: Until when (``time.monotonic()``) the lease this beat last took is surely its own.
    _lead_until = 0.0
    _owner = ""

    @property
    def owner(self) -> str:
        if not self._owner:
            self._owner = beat_owner()
        return self._owner

    @staticmethod
    def lease_seconds() -> int:
        return settings.BEAT_LEASE_SECONDS

    def standby_seconds(self) -> float:
        """How often a beat that stands by tries the lease; the leader renews at least as often."""
        return max(1.0, min(5.0, self.lease_seconds() / 3))

    def tick(self, *args, **kwargs):
        if workers.beat_stop_signal():
            logger.info("beat: stopping (signal %s)", workers.beat_stop_signal())
            raise SystemExit()
        if self.hold_lead():
            interval = super().tick(*args, **kwargs)
            if self._dirty:
                # Saved right after the send, so a beat that takes over knows it was sent.
                self.sync()
            interval = min(interval, self.standby_seconds())
        else:
            interval = self.standby_seconds()
        now = time.monotonic()
        due = now - self._touched_at >= settings.WORKER_HEARTBEAT_SECONDS
        if settings.BEAT_HEARTBEAT_FILE and due:
            from crm.workers import touch

            touch(settings.BEAT_HEARTBEAT_FILE)
            self._touched_at = now
        return interval

    def hold_lead(self) -> bool:
        """Take or renew the lease; True when this beat is to send due tasks now."""
        started = time.monotonic()
        seconds = self.lease_seconds()
        try:
            close_old_connections()
            holder = lead_take(self.owner, seconds=seconds)
        except (DatabaseError, InterfaceError) as error:
            if self._leading and started < self._lead_until:
                return True  # the lease it holds is still its own
            if self._leading:
                logger.warning("beat: standing by (the lease could not be renewed: %s)", error)
                self._stand_by()
            return False
        if holder == self.owner:
            # Counted from before the statement: never later than the database's lease end.
            self._lead_until = started + seconds
            if not self._leading:
                self._take_over()
            return True
        if self._leading is not False or holder != self._leader_seen:
            logger.info("beat: standing by (leader %s)", holder)
            self._leader_seen = holder
        self._stand_by()
        return False

    def _take_over(self):
        """Start sending: with the schedule as the database has it now (``last_run_at`` as the
        last leader saved it), so nothing it just sent goes out again."""
        logger.info("beat: leading (%s)", self.owner)
        self._leading = True
        self._leader_seen = None
        self._dirty.clear()
        self._schedule = self.all_as_schedule()
        self._last_full_sync = datetime.datetime.now()
        self._heap = None  # rebuilt from the reread schedule at this tick

    def reserve(self, entry):
        # django-celery-beat leaves the sent entry in the schedule with its old run time; a heap
        # rebuilt from it (after a schedule change) would send that task again at once.
        new_entry = super().reserve(entry)
        if self._schedule is not None and entry.name in self._schedule:
            self._schedule[entry.name] = new_entry
        return new_entry

    def _stand_by(self):
        # Run times this beat did not save are dropped: the leader's rows are the truth now.
        self._leading = False
        self._dirty.clear()

    def close(self):
        try:
            super().close()
        finally:
            if self._leading:
                try:
                    if lead_give_up(self.owner):
                        logger.info("beat: gave the lead up")
                except (DatabaseError, InterfaceError) as error:
                    logger.warning("beat: could not give the lead up (%s)", error)
                self._leading = False

    def all_as_schedule(self):
        try:
            return super().all_as_schedule()
        except (DatabaseError, InterfaceError) as error:
            if getattr(self, "_schedule", None) is None:
                raise  # nothing to keep: beat is starting, let it say why
            logger.warning(
                "Beat could not reread the schedules (%s); it keeps the ones it has.", error
            )
            return self._schedule
