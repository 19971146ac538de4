import sys

from django.core.management.base import BaseCommand, CommandError

from sales.services import orders_import


class Command(BaseCommand):
    help = (
        "Import past orders from a CSV file (columns: external_ref, account_id | account_domain | "
        "account_name, order_date, amount, currency, product_sku, quantity, billing, description). "
        "Bad rows are listed with their line number; good rows are kept. Exits 1 if any row failed."
    )

    def add_arguments(self, parser):
        parser.add_argument("path")

    def handle(self, *args, path, **options):
        try:
            with open(path, encoding="utf-8-sig", newline="") as file:
                result = orders_import(file=file)
        except OSError as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from exc
        for line, message in result.errors:
            self.stderr.write(f"line {line}: {message}")
        self.stdout.write(
            f"{result.created} created, {result.skipped} already imported, "
            f"{len(result.errors)} with errors."
        )
        if result.errors:
            sys.exit(1)
