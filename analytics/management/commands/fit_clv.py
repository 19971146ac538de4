"""Fit the customer-lifetime-value models (BG/NBD + Gamma-Gamma) and print their parameters."""

import json

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from analytics.clv import fit_transactions
from analytics.clv.csv_input import TransactionFileError, parse_date, read_transactions
from analytics.clv.orders import NoOrdersTable, fit_from_orders


class Command(BaseCommand):
    help = (
        "Fit BG/NBD and Gamma-Gamma by maximum likelihood and print the parameters as JSON. "
        "With --csv, fit a transaction file; without, fit the CRM's orders and store the "
        "per-account values for the CLV dashboard."
    )

    def add_arguments(self, parser):
        parser.add_argument("--csv", metavar="FILE", help="transaction file, one purchase a row")
        parser.add_argument("--customer-col", metavar="C", help="column holding the customer id")
        parser.add_argument("--date-col", metavar="D", help="column holding the purchase date")
        parser.add_argument("--amount-col", metavar="A", help="column holding the amount")
        parser.add_argument("--time-unit", choices=["days", "weeks"], default="weeks")
        parser.add_argument(
            "--observation-end",
            metavar="DATE",
            help="last day of the calibration period (default: the last purchase in the file; "
            "today for the orders)",
        )

    def handle(self, *args, **options):
        observation_end = None
        if options["observation_end"]:
            try:
                observation_end = parse_date(options["observation_end"])
            except ValueError:
                raise CommandError(
                    f"--observation-end {options['observation_end']!r} is not a date (YYYY-MM-DD)"
                ) from None
        if options["csv"]:
            result = self._fit_csv(options, observation_end)
        else:
            result = self._fit_orders(options, observation_end)
        self.stdout.write(json.dumps(result))

    def _fit_csv(self, options, observation_end):
        columns = {
            "--customer-col": options["customer_col"],
            "--date-col": options["date_col"],
            "--amount-col": options["amount_col"],
        }
        missing = [flag for flag, value in columns.items() if not value]
        if missing:
            raise CommandError(f"--csv needs {', '.join(missing)}")
        try:
            customers, dates, amounts = read_transactions(
                options["csv"],
                customer_col=options["customer_col"],
                date_col=options["date_col"],
                amount_col=options["amount_col"],
            )
            result = fit_transactions(
                customers,
                dates,
                amounts,
                observation_end=observation_end,
                time_unit=options["time_unit"],
            )
        except TransactionFileError as error:
            raise CommandError(str(error)) from None
        except ValueError as error:
            raise CommandError(f"cannot fit {options['csv']}: {error}") from None
        return result.parameters()

    def _fit_orders(self, options, observation_end):
        try:
            fit = fit_from_orders(observation_end=observation_end, time_unit=options["time_unit"])
        except NoOrdersTable:
            raise CommandError("no orders table yet: the sales app has no Order model") from None
        except ValueError as error:
            raise CommandError(f"cannot fit the orders: {error}") from None
        except DatabaseError as error:
            raise CommandError(
                f"cannot read the orders ({error}); has `manage.py migrate` been run?"
            ) from None
        parameters = fit.parameters
        return {
            "bgnbd": parameters["bgnbd"],
            "gamma_gamma": parameters["gamma_gamma"],
            "customers": fit.customers,
        }
