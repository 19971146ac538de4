"""``python manage.py import_leads FILE.csv [--owner USER] [--policy skip|update|create]``: the
same import service the web page uses, run in this process, printing the same summary."""

from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError

from crm.models import User
from leads.choices import DedupePolicy
from leads.services import imports


class Command(BaseCommand):
    help = "Import leads from a CSV file (columns are matched to lead fields by their names)."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--owner", help="Username owning every imported lead.")
        parser.add_argument(
            "--policy",
            choices=DedupePolicy.values,
            default=DedupePolicy.SKIP,
            help="What to do with rows matching an existing lead or contact.",
        )
        parser.add_argument("--user", default="", help="Username recorded as the importer.")
        parser.add_argument(
            "--quiet-errors", action="store_true", help="Only count bad rows, do not list them."
        )

    def handle(self, *args, file, owner, policy, user, quiet_errors, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No such file: {file}")
        owner_user = self._user(owner) if owner else None
        importer = self._user(user) if user else owner_user
        with path.open("rb") as handle:
            try:
                job = imports.import_job_create(
                    user=importer,
                    upload=File(handle, name=path.name),
                    policy=policy,
                    owner=owner_user,
                )
            except ValidationError as exc:
                raise CommandError(" ".join(exc.messages)) from exc
        self.stdout.write(f"Columns: {job.mapping}")
        job, seconds = imports.timed_import(job)
        if not quiet_errors:
            for line, reason, _raw in imports.error_rows(job).iterator(chunk_size=2000):
                self.stdout.write(f"line {line}: {reason}")
        self.stdout.write(imports.summary(job))
        self.stdout.write(f"Took {seconds:.1f} s.")

    def _user(self, username):
        try:
            return User.objects.get(username=username)
        except User.DoesNotExist:
            raise CommandError(f"No user named {username!r}.") from None
