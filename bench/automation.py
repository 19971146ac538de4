"""Time to evaluate 50 active automation rules on a 100,000-row lead import (README,
"Automations").

Makes 50 active rules on leads (20 "record created", 10 "stage entered", 10 "field changes to
a value", 5 "N days after creation", 5 "nothing happened for N days"), each with a condition on
the job title that about 2 % of the imported rows meet, runs the lead CSV import of ``--rows``
rows through the import service (which tells the rules which leads each chunk made), then times
what a worker does with that: every active rule evaluated over the new leads, 5,000 at a time as
the import's messages carry them, making a run for each lead a rule fires on. Then once more
(nothing new to fire: the cost of looking again), and the sweep's full evaluation over all leads.
The runs themselves (their actions) are not worked here.

    python bench/automation.py [--rows 100000] [--rules 50]

Uses the database of the settings and deletes what it made at the end (leads, rules, runs).
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.base")

DOMAIN = "bench-automation.example"
TITLES = 50  # distinct job titles; each rule's condition picks one


def _file(rows: int) -> Path:
    fd, name = tempfile.mkstemp(suffix=".csv")
    with open(fd, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["First name", "Last name", "Email", "Company", "Title"])
        for i in range(rows):
            writer.writerow(
                [
                    "Bench",
                    f"Lead {i}",
                    f"lead{i}@{DOMAIN}",
                    f"Company {i % 5000}",
                    f"Title{i % TITLES:02d}x buyer",
                ]
            )
    return Path(name)


def _rules(count: int, user):
    from crm.automation.services import rule_create, rule_set_active

    kinds = (
        [("created", {})] * 20
        + [("stage", {"value": "new"})] * 10
        + [("field", {"field": "status", "operator": "is", "value": "new"})] * 10
        + [("date", {"field": "created", "days": 0, "when": "after"})] * 5
        + [("idle", {"days": 30})] * 5
    )
    rules = []
    for number in range(count):
        trigger, params = kinds[number % len(kinds)]
        condition = {"criterion": "title", "operator": "contains", "value": f"Title{number:02d}x"}
        rule = rule_create(
            user=user,
            data={
                "name": f"bench-automation {number} ({trigger})",
                "entity": "lead",
                "trigger": trigger,
                "trigger_params": params,
                "conditions": {"op": "and", "children": [condition]},
                "actions": [{"kind": "add_note", "text": "Bench"}],
            },
        )
        rules.append(rule_set_active(rule=rule, user=user, active=True))
    return rules


def _cleanup(user=None) -> None:
    from django.db import connection

    from crm.history import Source, source
    from crm.models import Rule
    from leads.models import ImportJob, Lead

    Rule.objects.filter(name__startswith="bench-automation ").delete()
    with source(Source.COMMAND, bench="automation"):
        ids = list(Lead.objects.filter(email__endswith=f"@{DOMAIN}").values_list("pk", flat=True))
        for start in range(0, len(ids), 10_000):
            Lead.objects.filter(pk__in=ids[start : start + 10_000]).delete()
    ImportJob.objects.filter(original_name="bench-automation.csv").delete()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE leads_lead")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rules", type=int, default=50)
    args = parser.parse_args()
    import django

    django.setup()
    from unittest import mock

    from django.contrib.auth.models import Group
    from django.core.files import File

    from crm.automation import engine
    from crm.choices import Role
    from crm.models import RuleRun, User
    from leads.services import imports

    _cleanup()
    user, _ = User.objects.get_or_create(
        username="bench-automation", defaults={"first_name": "Bench", "is_active": True}
    )
    user.groups.add(Group.objects.get(name=Role.ADMIN))
    messages: list[tuple] = []
    # The broker is not part of what is timed: the messages the commits publish are collected.
    collect = lambda task, *a: messages.append(a)  # noqa: E731
    with (
        mock.patch.object(engine, "enqueue_quietly", collect),
        mock.patch("crm.work.enqueue_quietly", collect),
    ):
        try:
            rules = _rules(args.rules, user)
            messages.clear()
            path = _file(args.rows)
            with path.open("rb") as handle:
                job = imports.import_job_create(
                    user=user, upload=File(handle, name="bench-automation.csv"), owner=user
                )
            job, import_seconds = imports.timed_import(job)
            path.unlink()
            chunks = [args for args in messages if args and args[0] == "lead" and args[1]]
            leads = sum(len(pks) for _, pks in chunks)
            start = time.perf_counter()
            for entity, pks in chunks:
                engine.rules_evaluate(entity=entity, pks=pks)
            first = time.perf_counter() - start
            runs = RuleRun.objects.filter(rule__in=rules).count()
            start = time.perf_counter()
            for entity, pks in chunks:
                engine.rules_evaluate(entity=entity, pks=pks)
            again = time.perf_counter() - start
            start = time.perf_counter()
            engine.rules_evaluate(entity="lead")
            full = time.perf_counter() - start
            total_leads = job.created_count
        finally:
            _cleanup()
    print(f"import of {args.rows:,} rows: {import_seconds:.1f} s ({total_leads:,} leads created)")
    print(f"{len(rules)} active rules, {len(chunks)} evaluation message(s) for {leads:,} leads")
    print(f"first evaluation (fires): {first:.1f} s, {runs:,} runs queued")
    print(f"evaluated again (nothing new): {again:.1f} s")
    print(f"full evaluation over every lead (the sweep's): {full:.1f} s")


if __name__ == "__main__":
    main()
