"""``manage.py seed_demo``: realistic demo data through every stage, the same for the same
arguments. The data itself is built by the steps registered in ``crm.seeding.seed_steps``."""

import datetime as dt
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from crm.seeding import demo_data_exists, seed_run, seed_steps

MAX_SCALE = 2000


def _scale(value: str) -> float:
    scale = float(value)
    if not 0 < scale <= MAX_SCALE:
        raise ValueError(value)
    return int(scale) if scale.is_integer() else scale


class Command(BaseCommand):
    help = (
        "Load the demo data (users admin, manager, rep, rep2, agent and every stage's records) "
        "once. Refuses to run with DEBUG off unless --force."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--scale",
            type=_scale,
            default=1,
            help="Volume multiplier (default 1: ~200 accounts, 1,000 contacts; 1000: 100,000 "
            "accounts, 1,000,000 contacts). Fractions make smaller data sets.",
        )
        parser.add_argument("--password", default="demo", help="The demo users' password.")
        parser.add_argument(
            "--force", action="store_true", help="Run even with DEBUG off (e.g. a bench database)."
        )
        parser.add_argument(
            "--anchor-date",
            type=dt.date.fromisoformat,
            default=None,
            help="Day (YYYY-MM-DD) all dates are relative to (its midnight, UTC); default "
            "the current minute. With it, every row is identical between runs.",
        )

    def handle(self, *args, scale, password, force, anchor_date, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "DEBUG is off: this looks like production. Demo data mixes fake customers into "
                "real ones; pass --force if you mean it."
            )
        if demo_data_exists():
            self.stdout.write("Demo data is already loaded; nothing to do.")
            self._print_logins(password=None)
            return
        steps = ", ".join(s.name for s in seed_steps.steps())
        self.stdout.write(f"Seeding demo data at scale {scale} (steps: {steps})…")
        started = time.monotonic()
        ctx = seed_run(scale=scale, password=password, stdout=self.stdout, anchor=anchor_date)
        elapsed = time.monotonic() - started
        self.stdout.write(
            self.style.SUCCESS(f"Demo data loaded in {elapsed:.1f}s ({len(ctx.users)} users).")
        )
        self._print_logins(password=password)

    def _print_logins(self, *, password):
        shown = password or "as set when seeded (default: demo)"
        self.stdout.write(f"Demo logins (password: {shown}):")
        for username, role in (
            ("admin", "admin, Django admin at /admin/"),
            ("manager", "manager of the Sales and Support teams"),
            ("rep", "sales rep"),
            ("rep2", "sales rep"),
            ("agent", "support agent"),
        ):
            self.stdout.write(f"  {username:<8} {role}")
