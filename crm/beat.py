"""Beat's scheduler: django-celery-beat's, kept running through a database outage.

django-celery-beat reads the schedules from the database (editable in the admin) and rereads all
of them every five minutes. Its checks for changes survive a database that does not answer, but
that full reread does not: falling due during an outage, it raised out of beat's loop and beat
exited, which stopped every automation (the sweep included) until someone restarted it. Here a
reread that fails keeps the schedule beat already has (the next full reread is five minutes on;
a change made in the admin is noticed as before once the database answers), so an outage delays
a periodic task by at most its length and never stops beat.
"""

import logging
import time

from django.conf import settings
from django.db import DatabaseError, InterfaceError
from django_celery_beat.schedulers import DatabaseScheduler as BaseDatabaseScheduler

logger = logging.getLogger(__name__)


class DatabaseScheduler(BaseDatabaseScheduler):
    """``celery beat --scheduler crm.beat:DatabaseScheduler`` (bin/dev, docker-compose.yml).

    Each turn of beat's loop also touches ``BEAT_HEARTBEAT_FILE`` (at most every
    ``WORKER_HEARTBEAT_SECONDS``), which ``manage.py worker_health --beat`` checks."""

    _touched_at = 0.0

    def tick(self, *args, **kwargs):
        interval = super().tick(*args, **kwargs)
        now = time.monotonic()
        due = now - self._touched_at >= settings.WORKER_HEARTBEAT_SECONDS
        if settings.BEAT_HEARTBEAT_FILE and due:
            from crm.workers import touch

            touch(settings.BEAT_HEARTBEAT_FILE)
            self._touched_at = now
        return interval

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
