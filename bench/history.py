"""Write overhead of field history: 100,000 leads bulk-inserted through the ORM, then all of
them changed by one ``QuerySet.update()``, with the history triggers on and off.

Each round runs in a transaction that is rolled back, so the database is left as it was; "off"
disables the table's triggers inside that transaction only (``ALTER TABLE … DISABLE TRIGGER
USER``). Rounds alternate off/on so cache warm-up favours neither.

    python bench/history.py [--rows 100000] [--rounds 2]   # on the database of the settings
    python bench/history.py --seed [--scale 1]             # seed_demo, triggers off and on
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.base")


class Rollback(Exception):
    pass


def one_round(rows: int, *, triggers: bool) -> tuple[float, float, int]:
    from django.db import connection, transaction

    from crm.history import Source, source
    from leads.models import Lead

    timings = []
    events = 0
    try:
        with transaction.atomic():
            if not triggers:
                with connection.cursor() as cursor:
                    cursor.execute("ALTER TABLE leads_lead DISABLE TRIGGER USER")
            event_model = Lead.pgh_event_models["update"]
            before = event_model.objects.count()
            with source(Source.COMMAND, bench="history"):
                start = time.perf_counter()
                Lead.objects.bulk_create(
                    (
                        Lead(
                            first_name="Bench",
                            last_name=f"Lead {i}",
                            email=f"bench-{i}@history.example",
                            company_name=f"Company {i % 5000}",
                        )
                        for i in range(rows)
                    ),
                    batch_size=2000,
                )
                timings.append(time.perf_counter() - start)
                start = time.perf_counter()
                Lead.objects.filter(email__endswith="@history.example").update(
                    status="working", company_name="Renamed"
                )
                timings.append(time.perf_counter() - start)
            events = event_model.objects.count() - before
            raise Rollback
    except Rollback:
        pass
    return timings[0], timings[1], events


TRACKED_TABLES = (
    "crm_account",
    "crm_contact",
    "crm_user_groups",
    "leads_lead",
    "sales_opportunity",
    "sales_opportunitylineitem",
    "sales_quote",
    "support_ticket",
    "retention_subscription",
)


def seed_round(scale: float, *, triggers: bool) -> float:
    """One ``seed_demo`` run (its steps in its transaction), rolled back afterwards."""
    import io

    from django.db import connection, transaction

    from crm.seeding import seed_run

    try:
        with transaction.atomic():
            if not triggers:
                with connection.cursor() as cursor:
                    for table in TRACKED_TABLES:
                        cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
            start = time.perf_counter()
            seed_run(scale=scale, password="demo", stdout=io.StringIO())
            elapsed = time.perf_counter() - start
            raise Rollback
    except Rollback:
        pass
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", action="store_true", help="time seed_demo instead")
    parser.add_argument("--scale", type=float, default=1)
    args = parser.parse_args()
    import django

    django.setup()
    if args.seed:
        seeds = {False: [], True: []}
        for _ in range(args.rounds):
            for triggers in (False, True):
                seeds[triggers].append(seed_round(args.scale, triggers=triggers))
        off, on = min(seeds[False]), min(seeds[True])
        print(
            f"seed_demo --scale {args.scale:g}: history off {off:.1f} s, on {on:.1f} s "
            f"(+{(on / off - 1) * 100:.0f} %)"
        )
        return
    results = {False: [], True: []}
    for _ in range(args.rounds):
        for triggers in (False, True):
            results[triggers].append(one_round(args.rows, triggers=triggers))
            insert, update, events = results[triggers][-1]
            print(
                f"  round, history {'on ' if triggers else 'off'}: insert {insert:.2f} s, "
                f"update {update:.2f} s",
                flush=True,
            )
    for triggers in (False, True):
        insert = min(r[0] for r in results[triggers])
        update = min(r[1] for r in results[triggers])
        events = results[triggers][0][2]
        print(
            f"history {'on ' if triggers else 'off'}: insert {args.rows:,} {insert:6.2f} s, "
            f"update {args.rows:,} {update:6.2f} s, {events:,} event rows"
        )
    off_insert = min(r[0] for r in results[False])
    on_insert = min(r[0] for r in results[True])
    off_update = min(r[1] for r in results[False])
    on_update = min(r[1] for r in results[True])
    print(
        f"overhead: insert +{(on_insert / off_insert - 1) * 100:.0f} %, "
        f"update +{(on_update / off_update - 1) * 100:.0f} %"
    )


if __name__ == "__main__":
    main()
