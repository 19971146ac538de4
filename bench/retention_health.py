"""Time the nightly health recompute at scale: ``python bench/retention_health.py [--accounts N]``.

Runs against ``DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/crm_retention_dev``,
created and migrated if needed). Unless the database already holds ``--accounts`` accounts, it
bulk-loads them with what every health component reads: a contact each, a timeline (accounts and
contacts), daily product usage, tickets with SLA breaches and CSAT answers, and subscriptions.
Then it runs ``retention.services.health.health_recompute`` twice (the second is the idempotent
rerun of the same day) and prints each component's time. Exit status 1 if a run takes longer
than ``--limit`` seconds (default 120).
"""

import argparse
import datetime as dt
import os
import random
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/crm_retention_dev"


def setup(database_url: str) -> None:
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.base")
    os.environ.setdefault("DEBUG", "true")
    sys.path.insert(0, str(ROOT))
    if database_url.startswith("postgres"):
        name = database_url.rsplit("/", 1)[1]
        base = database_url.rsplit("/", 1)[0] + "/postgres"
        exists = subprocess.run(
            ["psql", base, "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        if exists != "1":
            subprocess.run(["psql", base, "-qc", f'CREATE DATABASE "{name}"'], check=True)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def seed(n_accounts: int, rng: random.Random) -> None:
    from django.contrib.contenttypes.models import ContentType
    from django.db import transaction
    from django.utils import timezone

    from crm.models import Account, Activity, Contact, User
    from retention.models import Subscription, UsageDaily

    have = Account.objects.count()
    if have >= n_accounts:
        print(f"Database already holds {have:,} accounts; not seeding.")
        return
    started = time.monotonic()
    now = timezone.now()
    today = timezone.localdate()
    owner, _ = User.objects.get_or_create(username="bench_rep", defaults={"email": "b@example.com"})
    batch = 10_000
    with transaction.atomic():
        first = (Account.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
        Account.objects.bulk_create(
            (
                Account(name=f"Bench account {i}", domain=f"bench{i}.example", owner=owner)
                for i in range(have, n_accounts)
            ),
            batch_size=batch,
        )
        ids = list(Account.objects.filter(pk__gte=first).values_list("pk", flat=True))
        Contact.objects.bulk_create(
            (Contact(last_name=f"Person {a}", account_id=a, owner=owner) for a in ids),
            batch_size=batch,
        )
        contact_ids = dict(
            Contact.objects.filter(account_id__in=ids).values_list("account_id", "pk")
        )
        account_ct = ContentType.objects.get_for_model(Account)
        contact_ct = ContentType.objects.get_for_model(Contact)

        def activities():
            for a in ids:
                for _ in range(rng.randrange(0, 5)):
                    on_contact = rng.random() < 0.7
                    when = now - dt.timedelta(days=rng.uniform(0, 200))
                    yield Activity(
                        kind="call",
                        summary="Bench call",
                        occurred_at=when,
                        content_type=contact_ct if on_contact else account_ct,
                        object_id=contact_ids[a] if on_contact else a,
                        actor=owner,
                        subject_owner=owner,
                    )

        Activity.objects.bulk_create(activities(), batch_size=batch)

        def usage_days():
            for a in ids:
                if rng.random() < 0.6:
                    for d in rng.sample(range(60), 6):
                        n = rng.randrange(1, 50)
                        yield UsageDaily(
                            account_id=a,
                            day=today - dt.timedelta(days=d),
                            kind="login",
                            total=n,
                            peak=n,
                            events=n,
                        )

        UsageDaily.objects.bulk_create(usage_days(), batch_size=batch)

        def subscriptions():
            for a in ids:
                if rng.random() < 0.6:
                    start = today - dt.timedelta(days=rng.randrange(0, 700))
                    yield Subscription(
                        account_id=a,
                        owner=owner,
                        plan="Platform",
                        mrr=Decimal(rng.randrange(50, 5000)),
                        currency="EUR",
                        start_date=start,
                        renewal_date=today + dt.timedelta(days=rng.randrange(1, 365)),
                    )

        Subscription.objects.bulk_create(subscriptions(), batch_size=batch)
        try:
            from support.models import CsatSurvey, Ticket
        except ImportError:
            Ticket = None
        if Ticket is not None:

            def tickets():
                for a in ids:
                    for _ in range(rng.choice((0, 0, 1, 2))):
                        yield Ticket(
                            subject="Bench ticket",
                            account_id=a,
                            status=rng.choice(("open", "solved", "closed")),
                            created_at=now - dt.timedelta(days=rng.uniform(0, 120)),
                            resolution_breached=rng.random() < 0.2,
                        )

            Ticket.objects.bulk_create(tickets(), batch_size=batch)
            solved = Ticket.objects.filter(account_id__in=ids, status="solved").values_list(
                "pk", "created_at"
            )
            CsatSurvey.objects.bulk_create(
                (
                    CsatSurvey(
                        ticket_id=pk,
                        token=f"bench-{pk}",
                        rating=rng.randrange(1, 6),
                        sent_at=created,
                        answered_at=created + dt.timedelta(days=1),
                    )
                    for pk, created in solved.iterator(chunk_size=batch)
                ),
                batch_size=batch,
            )
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(f"Seeded {len(ids):,} accounts in {time.monotonic() - started:.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--limit", type=float, default=120.0, help="seconds a run may take")
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    args = parser.parse_args()
    setup(args.database_url)
    seed(args.accounts, random.Random(42))

    from crm.models import Account
    from retention.services.health import health_recompute

    print(f"Accounts: {Account.objects.count():,}")
    worst = 0.0
    for label in ("first run", "rerun, same day"):
        started = time.monotonic()
        result = health_recompute()
        elapsed = time.monotonic() - started
        worst = max(worst, elapsed)
        parts = ", ".join(f"{k} {v:.2f} s" for k, v in result["timings"].items())
        print(
            f"health_recompute ({label}): {elapsed:.1f} s for {result['accounts']:,} accounts "
            f"[{parts}]; risk episodes opened {result['opened']:,}, closed {result['closed']:,}"
        )
    ok = worst <= args.limit
    print(f"{'OK' if ok else 'TOO SLOW'}: slowest run {worst:.1f} s (limit {args.limit:.0f} s)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
