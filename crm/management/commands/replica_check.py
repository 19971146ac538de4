"""Proves the read replica routing against a real streaming replica (``bin/replica-check``
builds one): lagging reads (dashboards, search) answer from the replica, a browser that just
wrote reads its write from the primary, and everything else never touches the replica.

Run with ``DATABASE_URL`` (the primary, migrated) and ``DATABASE_REPLICA_URL`` (its standby).
Replay on the standby is paused during the checks, so what it answers is provably stale."""

import secrets
import time

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from crm.choices import Role
from crm.models import Account, User
from crm.replica import ALIAS, COOKIE
from crm.services.customers import account_create


class Command(BaseCommand):
    help = "Check that lagging reads use the replica and that a writer reads its writes."

    def handle(self, *args, **options):
        if ALIAS not in settings.DATABASES:
            raise CommandError("Set DATABASE_REPLICA_URL to the primary's streaming replica.")
        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
        self.failures = 0
        replica = connections[ALIAS]
        with replica.cursor() as cursor:
            cursor.execute("SELECT pg_is_in_recovery()")
            self.verify("the replica is a standby in recovery", cursor.fetchone()[0])

        tag = secrets.token_hex(4)
        rep = User.objects.create_user(f"replica-{tag}", f"replica-{tag}@example.com", "x")
        rep.groups.add(Group.objects.get(name=Role.SALES_REP))
        seen = account_create(user=rep, name=f"Seen {tag}")
        self.wait_for(lambda: Account.objects.using(ALIAS).filter(pk=seen.pk).exists())
        with replica.cursor() as cursor:
            cursor.execute("SELECT pg_wal_replay_pause()")
        try:
            self.run_checks(rep, tag)
        finally:
            with replica.cursor() as cursor:
                cursor.execute("SELECT pg_wal_replay_resume()")
        fresh = Client()
        fresh.force_login(rep)
        self.wait_for(
            lambda: f"Fresh {tag}" in fresh.get(reverse("search"), {"q": tag}).content.decode()
        )
        self.verify("once replay resumes, the replica shows the write too", True)
        if self.failures:
            raise CommandError(f"{self.failures} check(s) failed.")
        self.stdout.write(self.style.SUCCESS("Replica routing: every check passed."))

    def run_checks(self, rep, tag):
        writer, reader = Client(), Client()
        writer.force_login(rep)
        reader.force_login(rep)

        with self.capture() as (primary, replica):
            response = reader.get(reverse("analytics:pipeline"))
        self.verify(
            f"a dashboard answers from the replica ({len(replica)} queries there, "
            f"{len(primary)} on the primary for the session)",
            response.status_code == 200 and len(replica) > 0,
        )
        with self.capture() as (primary, replica):
            response = reader.get(reverse("account_list"))
        self.verify(
            "an ordinary list page reads only the primary",
            response.status_code == 200 and len(replica) == 0 and len(primary) > 0,
        )

        with self.capture() as (primary, replica):
            response = writer.post(
                reverse("account_create"), {"name": f"Fresh {tag}", "lifecycle_stage": "prospect"}
            )
        self.verify(
            "a write goes to the primary and pins the writer's browser",
            response.status_code == 302 and len(replica) == 0 and COOKIE in response.cookies,
        )
        fresh = Account.objects.get(name=f"Fresh {tag}")
        self.verify(
            "the replica (replay paused) does not have the new account",
            not Account.objects.using(ALIAS).filter(pk=fresh.pk).exists(),
        )
        with self.capture() as (primary, replica):
            page = writer.get(fresh.get_absolute_url())
            found = writer.get(reverse("search"), {"q": tag}).content.decode()
        self.verify(
            "the writer sees the write on its page and in search (read from the primary)",
            page.status_code == 200 and f"Fresh {tag}" in found and len(replica) == 0,
        )
        with self.capture() as (primary, replica):
            other = reader.get(reverse("search"), {"q": tag}).content.decode()
        self.verify(
            "another browser's search answers from the replica, which lags",
            f"Seen {tag}" in other and f"Fresh {tag}" not in other and len(replica) > 0,
        )

    def capture(self):
        class Both:
            def __enter__(inner):
                inner.p = CaptureQueriesContext(connections["default"])
                inner.r = CaptureQueriesContext(connections[ALIAS])
                return inner.p.__enter__(), inner.r.__enter__()

            def __exit__(inner, *exc):
                inner.r.__exit__(*exc)
                inner.p.__exit__(*exc)

        return Both()

    def wait_for(self, condition, seconds=30):
        deadline = time.monotonic() + seconds
        while not condition():
            if time.monotonic() > deadline:
                raise CommandError("The replica did not catch up within 30 seconds.")
            time.sleep(0.2)

    def verify(self, what, ok):
        self.stdout.write(f"{'PASS' if ok else 'FAIL'}  {what}")
        if not ok:
            self.failures += 1
