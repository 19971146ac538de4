"""``python manage.py run_retention_rules [--dry-run] [--rule NAME]``: apply the retention rules
now instead of waiting for beat's daily run (README, "Retention"), or with ``--dry-run`` only
say what they would do. A real run writes the same audit lines as beat's, done by "system"."""

from django.core.management.base import BaseCommand, CommandError

from crm import registry
from crm.retention import RETENTION_BATCH, retention_rules_run


def _counts_text(counts: dict) -> str:
    return ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in counts.items())


class Command(BaseCommand):
    help = "Apply the retention rules that are on now (or count what they would do)."

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="count what each rule would do, change nothing",
        )
        parser.add_argument(
            "--rule",
            action="append",
            dest="rules",
            metavar="NAME",
            help="only this rule (may be given again); every rule by default",
        )
        parser.add_argument(
            "--batch",
            type=int,
            default=RETENTION_BATCH,
            help=f"records per transaction (default {RETENTION_BATCH})",
        )

    def handle(self, *args, dry_run=False, rules=None, batch=RETENTION_BATCH, **options):
        known = [rule.name for rule in registry.retention_rules.rules()]
        unknown = sorted(set(rules or ()) - set(known))
        if unknown:
            raise CommandError(
                f"No retention rule named {', '.join(unknown)}; the rules: {', '.join(known)}."
            )
        if batch < 1:
            raise CommandError("--batch must be at least 1.")
        outcomes = retention_rules_run(dry_run=dry_run, batch=batch, names=rules)
        for outcome in outcomes:
            rule = outcome.rule
            if not outcome.is_on:
                self.stdout.write(f"{rule.name}: off ({rule.setting} is 0 or empty)")
                continue
            verb = "would act on" if dry_run else "done:"
            self.stdout.write(
                f"{rule.name} ({rule.setting}={outcome.months}, before "
                f"{outcome.before.date().isoformat()}): {verb} {_counts_text(outcome.counts)}"
            )
        if dry_run:
            self.stdout.write("Dry run: nothing was changed.")
