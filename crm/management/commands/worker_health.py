"""``manage.py worker_health [--beat]``: the compose healthcheck of a Celery worker (or beat).

Healthy when the process touched its heartbeat file lately (a worker from its event loop's timer,
beat from its scheduling loop: ``crm.workers``) and the database answers. No broker round trip
(unlike ``celery inspect ping``, which needs a broker and every worker's attention), so it is
cheap enough to run every half minute. Exits 1 with the reason otherwise."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from crm.workers import heartbeat_age


class Command(BaseCommand):
    help = "Exit 0 when this host's Celery worker (or beat, with --beat) is alive, 1 otherwise."

    def add_arguments(self, parser):
        parser.add_argument("--beat", action="store_true", help="Check beat instead of a worker.")
        parser.add_argument(
            "--max-age",
            type=float,
            default=None,
            help="Seconds after which the heartbeat is stale "
            "(default: three times WORKER_HEARTBEAT_SECONDS).",
        )

    def handle(self, *args, beat=False, max_age=None, **options):
        what = "beat" if beat else "worker"
        path = settings.BEAT_HEARTBEAT_FILE if beat else settings.WORKER_HEARTBEAT_FILE
        if not path:
            raise CommandError(f"No heartbeat file is set for the {what}.")
        max_age = max_age if max_age is not None else 3 * settings.WORKER_HEARTBEAT_SECONDS
        age = heartbeat_age(path)
        if age is None:
            raise CommandError(f"The {what} has not started: no heartbeat file at {path}.")
        if age > max_age:
            raise CommandError(
                f"The {what} is stuck or stopped: its last heartbeat was {age:.0f}s ago "
                f"(more than {max_age:.0f}s)."
            )
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        except Exception as exc:
            raise CommandError(f"The database does not answer: {exc}") from exc
        self.stdout.write(f"{what} ok: last heartbeat {age:.0f}s ago")
