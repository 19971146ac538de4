"""Write overhead of field history: 100,000 leads bulk-inserted through the ORM, then all of
them changed by one ``QuerySet.update()``, with the history triggers on and off.

Each round runs in a transaction that is rolled back, so the database is left as it was; "off"
disables the table's triggers inside that transaction only (``ALTER TABLE … DISABLE TRIGGER
USER``). Rounds alternate off/on so cache warm-up favours neither.

    python bench/history.py [--rows 100000] [--rounds 2]   # on the database of the settings
    python bench/history.py --seed [--scale 1]             # seed_demo, triggers off and on
    python bench/history.py --import [--rows 100000] [--no-phones]  # the lead CSV import

``--import`` runs the same import service as the web page and ``manage.py import_leads`` (one
leased job, committed chunk by chunk), so it cannot be rolled back: "off" disables the tracked
tables' triggers for the run and enables them after, and each round's leads are deleted after it
(with their timeline and history rows). Use it on a database you can spare (the dev one).
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


IMPORT_DOMAIN = "import-history.example"


def _import_file(rows: int, tag: str, phones: bool = True) -> Path:
    import csv
    import tempfile

    fd, name = tempfile.mkstemp(suffix=".csv")
    with open(fd, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["First name", "Last name", "Email", "Phone", "Company", "Title", "City"])
        for i in range(rows):
            writer.writerow(
                [
                    "Bench",
                    f"Importee {tag}{i}",
                    f"{tag}{i}@{IMPORT_DOMAIN}",
                    f"+1 212 {200 + i // 10000} {i % 10000:04d}" if phones else "",
                    f"Company {i % 5000}",
                    "Buyer",
                    "Springfield",
                ]
            )
    return Path(name)


def _set_triggers(enabled: bool) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in TRACKED_TABLES:
            cursor.execute(f"ALTER TABLE {table} {'ENABLE' if enabled else 'DISABLE'} TRIGGER USER")


def _cleanup_import() -> None:
    from django.contrib.contenttypes.models import ContentType
    from django.db import connection, transaction

    from crm.models import Activity, Task
    from leads.models import ImportJob, Lead

    _set_triggers(False)  # deleting leaves no history rows either
    try:
        with transaction.atomic():
            ids = list(
                Lead.objects.filter(email__endswith=f"@{IMPORT_DOMAIN}").values_list(
                    "pk", flat=True
                )
            )
            kind = ContentType.objects.get_for_model(Lead)
            for start in range(0, len(ids), 10_000):
                batch = ids[start : start + 10_000]
                Activity.objects.filter(content_type=kind, object_id__in=batch).delete()
                Task.objects.filter(content_type=kind, object_id__in=batch).delete()
                for event_model in set(Lead.pgh_event_models.values()):
                    event_model.objects.filter(pgh_obj_id__in=batch).delete()
                Lead.objects.filter(pk__in=batch).delete()
            ImportJob.objects.filter(original_name__startswith="bench-history-").delete()
    finally:
        _set_triggers(True)
    # The deleted rows stay in the matching index until a vacuum: without one, each round
    # would probe the dead entries of all rounds before it.
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE leads_lead")


def import_round(rows: int, *, triggers: bool, tag: str, phones: bool = True) -> tuple[float, int]:
    from django.core.files import File

    from crm.models import User
    from leads.models import Lead
    from leads.services import imports

    user, _ = User.objects.get_or_create(
        username="bench-history", defaults={"first_name": "Bench", "is_active": False}
    )
    path = _import_file(rows, tag, phones)
    event_model = next(iter(Lead.pgh_event_models.values()))
    try:
        if not triggers:
            _set_triggers(False)
        with path.open("rb") as handle:
            job = imports.import_job_create(
                user=user, upload=File(handle, name=f"bench-history-{tag}.csv"), owner=user
            )
        before = event_model.objects.count()
        job, seconds = imports.timed_import(job)
        events = event_model.objects.count() - before
        if job.created_count != rows:
            raise SystemExit(
                f"import created {job.created_count} of {rows}: {imports.summary(job)}"
            )
    finally:
        if not triggers:
            _set_triggers(True)
        path.unlink()
        _cleanup_import()
    return seconds, events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", action="store_true", help="time seed_demo instead")
    parser.add_argument("--scale", type=float, default=1)
    parser.add_argument(
        "--no-phones", action="store_true", help="with --import: rows without a phone number"
    )
    parser.add_argument(
        "--import", dest="run_import", action="store_true", help="time the lead CSV import"
    )
    args = parser.parse_args()
    import django

    django.setup()
    if args.run_import:
        _cleanup_import()
        times = {False: [], True: []}
        for round_ in range(args.rounds):
            for triggers in (False, True):
                seconds, events = import_round(
                    args.rows, triggers=triggers, tag=f"r{round_}", phones=not args.no_phones
                )
                times[triggers].append(seconds)
                print(
                    f"  round, history {'on ' if triggers else 'off'}: import {args.rows:,} rows "
                    f"{seconds:.1f} s ({events:,} history rows)",
                    flush=True,
                )
        off, on = min(times[False]), min(times[True])
        print(
            f"lead import of {args.rows:,} rows{' without phones' if args.no_phones else ''}: "
            f"history off {off:.1f} s, on {on:.1f} s "
            f"(+{(on / off - 1) * 100:.0f} %)"
        )
        return
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
