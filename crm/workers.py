"""The worker's and beat's side of operations: stopping gracefully and saying they are alive.

Stopping. ``docker compose stop`` (or Kubernetes, or systemd) sends SIGTERM to the Celery main
process, which stops taking messages and waits for the task each pool process is running (warm
shutdown). A short task simply finishes. A long one (an import, a mailbox sync) would run on until
the orchestrator loses patience and kills it, leaving its row leased until the lease runs out;
so the main process also tells every pool process (SIGUSR2) that the worker is stopping, and long
work checks ``crm.work.stop_requested()`` at each checkpoint: it gives up the lease there and
queues its task again, so another worker goes on from that checkpoint at once. Whatever lease a
pool process still holds when it exits runs out at that moment (``crm.work.leases_expire_mine``).

Alive. A worker touches ``WORKER_HEARTBEAT_FILE`` every ``WORKER_HEARTBEAT_SECONDS`` from its
event loop's timer (so a hung loop stops touching it), beat touches ``BEAT_HEARTBEAT_FILE`` from
its scheduling loop; ``manage.py worker_health`` (the compose healthcheck) checks that the file is
fresh and the database answers, without asking the broker.
"""

import contextlib
import logging
import os
import signal
import threading
import time
from pathlib import Path

from celery import bootsteps
from celery.signals import (
    beat_init,
    task_postrun,
    worker_process_init,
    worker_process_shutdown,
    worker_shutdown,
    worker_shutting_down,
)

logger = logging.getLogger(__name__)

#: Sent by the main process to its pool processes: "stop at your next checkpoint".
STOP_SIGNAL = signal.SIGUSR2


def touch(path: str | os.PathLike) -> None:
    """Mark ``path`` as written now (made with its folder on first use); never raises."""
    try:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    except OSError:
        logger.warning("Could not touch the heartbeat file %s", path, exc_info=True)


def heartbeat_age(path: str | os.PathLike, now: float | None = None) -> float | None:
    """Seconds since ``path`` was last touched; None when it does not exist."""
    try:
        mtime = os.stat(path).st_mtime
    except OSError:
        return None
    return max(0.0, (now or time.time()) - mtime)


def _setting(name: str):
    from django.conf import settings

    return getattr(settings, name)


class Heartbeat(bootsteps.StartStopStep):
    """A worker bootstep: touch the heartbeat file from the worker's timer."""

    requires = {"celery.worker.components:Timer"}

    def __init__(self, worker, **kwargs):
        super().__init__(worker, **kwargs)
        self.tref = None

    def start(self, worker):
        path = _setting("WORKER_HEARTBEAT_FILE")
        if not path:
            return
        touch(path)
        self.tref = worker.timer.call_repeatedly(
            float(_setting("WORKER_HEARTBEAT_SECONDS")), touch, (path,), priority=10
        )

    def stop(self, worker):
        if self.tref is not None:
            self.tref.cancel()
            self.tref = None


def install(app) -> None:
    app.steps["worker"].add(Heartbeat)


@worker_shutting_down.connect
def _stopping(sig=None, how=None, **kwargs):
    """In the main process, inside the signal handler: flag the stop (the solo and threads pools
    run tasks here) and pass it on to the pool processes."""
    from billiard.process import active_children

    from crm.work import request_stop

    request_stop()
    for child in active_children():
        with contextlib.suppress(OSError, TypeError):
            os.kill(child.pid, STOP_SIGNAL)


def _stop_signal_received(signum, frame):
    from crm.work import request_stop

    request_stop()


#: The signal that asked beat to stop, kept until its scheduler's next tick (0: none).
_beat_stop_signal = 0


def beat_stop_signal() -> int:
    return _beat_stop_signal


def _beat_stop_at_next_tick(signum, frame):
    global _beat_stop_signal
    _beat_stop_signal = signum


@beat_init.connect
def _beat_stops_between_ticks(sender=None, **kwargs):
    """Replace celery beat's SIGTERM/SIGINT handler, which closes the scheduler inside the
    handler: arriving while the scheduler is in a database call, that close waits for the
    connection the interrupted call holds, forever, and beat is SIGKILLed with its lease still
    held. Here the signal is noted and the scheduler's next tick (``crm.beat``, a few seconds
    on at most) ends beat's loop, which then closes the scheduler (saving, giving the lead up)
    outside any call."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _beat_stop_at_next_tick)
        signal.signal(signal.SIGINT, _beat_stop_at_next_tick)


@worker_process_init.connect
def _pool_process_started(**kwargs):
    signal.signal(STOP_SIGNAL, _stop_signal_received)


@task_postrun.connect
def _task_returned(task=None, args=None, kwargs=None, **extra):
    """While stopping: let go of whatever the task still holds (a lease given up inside a
    transaction that was then rolled back included), and queue the task again when it handed
    work over or left a lease, so another worker carries on at once. Durable work is woken by
    row id and a row woken twice is worked once, so queueing again is always safe."""
    from crm.work import handed_over_take, leases_expire_mine, stop_requested

    if not stop_requested() or task is None:
        return
    left = leases_expire_mine()
    if not (handed_over_take() or left):
        return
    try:
        task.apply_async(args=args or (), kwargs=kwargs or {})
    except Exception:
        logger.warning("Could not queue %s again; the sweep will", task.name, exc_info=True)
        return
    logger.info("Stopping: %s%s queued again for another worker", task.name, tuple(args or ()))


@worker_process_shutdown.connect
def _pool_process_exiting(**kwargs):
    from crm.work import leases_expire_mine

    leases_expire_mine()


@worker_shutdown.connect
def _worker_exiting(**kwargs):
    from crm.work import leases_expire_mine

    leases_expire_mine()
