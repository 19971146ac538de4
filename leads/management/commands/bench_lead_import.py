"""``python manage.py bench_lead_import [--rows 100000]``: writes a messy CSV (duplicates within
the file and against existing leads, bad emails, phones, countries, sizes) and imports it with
``import_leads``'s service, printing the summary and the time. For ``make bench``."""

import csv
import random
import tempfile
import time
from pathlib import Path

from django.core.files import File
from django.core.management.base import BaseCommand

from leads.choices import DedupePolicy
from leads.services import imports

HEADER = [
    "First name",
    "Last name",
    "Email",
    "Phone",
    "Company",
    "Website",
    "Job title",
    "Industry",
    "Employees",
    "Country",
    "Consent",
]
TITLES = ["VP Sales", "CTO", "Head of IT", "Buyer", "Engineer", "Office manager"]
INDUSTRIES = ["software", "Retail", "finance", "manufacturing", "", ""] * 6 + ["plumbing"]
COUNTRIES = ["DE", "FR", "US", "GB", "Germany", "de"] * 6 + ["Atlantis"]


def write_messy_csv(path: Path, rows: int, seed: int = 7) -> None:
    rng = random.Random(seed)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADER)
        for n in range(rows):
            roll = rng.random()
            email = f"person{n}@company{n % 9000}.example"
            if roll < 0.02:
                email = "not-an-email"
            elif roll < 0.06:
                email = (
                    f"person{max(n - rng.randint(1, 500), 0)}@company{max(n - 1, 0) % 9000}.example"
                )
            phone = f"+4930{1000000 + n}" if rng.random() < 0.5 else ""
            if rng.random() < 0.01:
                phone = "12"
            writer.writerow(
                [
                    f"First{n}",
                    f"Last{n % 5000}" if rng.random() > 0.005 else "",
                    email,
                    phone,
                    f"Company {n % 9000}",
                    f"company{n % 9000}.example",
                    rng.choice(TITLES),
                    rng.choice(INDUSTRIES),
                    rng.choice(["12", "250", "5000", "", "1,200"] * 6 + ["lots"]),
                    rng.choice(COUNTRIES),
                    rng.choice(["yes", "no", ""]),
                ]
            )


class Command(BaseCommand):
    help = "Time the lead CSV import on a generated messy file."

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=100_000)
        parser.add_argument("--policy", choices=DedupePolicy.values, default=DedupePolicy.SKIP)

    def handle(self, *args, rows, policy, **options):
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / f"bench-leads-{rows}.csv"
            write_messy_csv(path, rows)
            start = time.monotonic()
            with path.open("rb") as handle:
                job = imports.import_job_create(
                    user=None, upload=File(handle, name=path.name), policy=policy
                )
            job = imports.import_run(job_id=job.pk)
            seconds = time.monotonic() - start
        self.stdout.write(imports.summary(job))
        self.stdout.write(f"lead import of {rows} rows: {seconds:.1f} s")
