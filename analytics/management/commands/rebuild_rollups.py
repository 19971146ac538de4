"""``python manage.py rebuild_rollups [--refresh]``: rewrite the dashboards' rollups."""

from django.core.management.base import BaseCommand, CommandError

from analytics.rollups import rollups_rebuild, rollups_refresh


class Command(BaseCommand):
    help = (
        "Rewrite every day of the dashboards' rollups from the records (--refresh: only today, "
        "yesterday and the days of records changed since the last run)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--refresh", action="store_true", help="Only the days that may have changed."
        )

    def handle(self, *args, refresh=False, **options):
        written = rollups_refresh() if refresh else rollups_rebuild()
        if written is None:
            raise CommandError("Another run is rewriting the rollups; try again when it ends.")
        for name, rows in written.items():
            self.stdout.write(f"{name}: {rows} rows written")
