"""Read a transaction file (one row per purchase: customer, date, amount) for the CLV models.

Every problem is collected and reported together, with row numbers, rather than stopping at
the first one.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from pathlib import Path

import numpy as np

MAX_REPORTED = 20


class TransactionFileError(ValueError):
    """The file cannot be used; ``problems`` lists what is wrong (row numbers are 1-based lines
    of the file, the header being line 1)."""

    def __init__(self, message: str, problems: list[str] | None = None, total: int = 0):
        self.problems = problems or []
        self.total = total or len(self.problems)
        lines = [message, *self.problems[:MAX_REPORTED]]
        if self.total > MAX_REPORTED:
            lines.append(f"... and {self.total - MAX_REPORTED} more")
        super().__init__("\n".join(lines))


def parse_date(text: str) -> dt.date:
    """ISO dates (2024-03-01, 20240301) and ISO date-times (the date part is used)."""
    text = text.strip()
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return dt.datetime.fromisoformat(text).date()


def _parse_amount(text: str) -> float:
    value = float(text.strip())
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def read_transactions(path, *, customer_col: str, date_col: str, amount_col: str):
    """(customers, dates, amounts) as numpy arrays, or TransactionFileError listing problems."""
    path = Path(path)
    try:
        handle = path.open(newline="", encoding="utf-8-sig")
    except OSError as error:
        raise TransactionFileError(f"cannot open {path}: {error.strerror or error}") from error
    with handle:
        try:
            sample = handle.read(64 * 1024)
        except UnicodeDecodeError as error:
            raise TransactionFileError(f"{path} is not UTF-8 text") from error
        handle.seek(0)
        try:
            dialect = csv.Sniffer().sniff(sample, delimiters=",;\t|")
        except csv.Error:
            dialect = csv.excel
        reader = csv.reader(handle, dialect)
        try:
            header = [name.strip() for name in next(reader)]
        except StopIteration:
            raise TransactionFileError(f"{path} is empty") from None
        except (csv.Error, UnicodeDecodeError) as error:
            raise TransactionFileError(f"cannot read {path}: {error}") from error
        wanted = {"customer": customer_col, "date": date_col, "amount": amount_col}
        missing = [f"{role} column '{name}'" for role, name in wanted.items() if name not in header]
        if missing:
            raise TransactionFileError(
                f"{path}: missing {', '.join(missing)}; the columns are: {', '.join(header)}"
            )
        c_at, d_at, a_at = (header.index(name) for name in wanted.values())
        width = max(c_at, d_at, a_at) + 1
        customers, dates, amounts, problems = [], [], [], []
        try:
            for line, row in enumerate(reader, start=2):
                if not any(cell.strip() for cell in row):
                    continue  # blank line
                if len(row) < width:
                    problems.append(f"row {line}: {len(row)} fields, expected at least {width}")
                    continue
                reasons = []
                customer = row[c_at].strip()
                if not customer:
                    reasons.append("empty customer")
                try:
                    date = parse_date(row[d_at])
                except ValueError:
                    reasons.append(f"date {row[d_at]!r} is not a date (use YYYY-MM-DD)")
                try:
                    amount = _parse_amount(row[a_at])
                except ValueError:
                    reasons.append(f"amount {row[a_at]!r} is not a number")
                if reasons:
                    problems.append(f"row {line}: {'; '.join(reasons)}")
                    continue
                customers.append(customer)
                dates.append(date)
                amounts.append(amount)
        except (csv.Error, UnicodeDecodeError) as error:
            raise TransactionFileError(f"cannot read {path}: {error}") from error
    if problems:
        raise TransactionFileError(
            f"{path}: {len(problems)} bad row(s):", problems=problems, total=len(problems)
        )
    if not customers:
        raise TransactionFileError(f"{path} has no transactions")
    return (
        np.array(customers),
        np.array(dates, dtype="datetime64[D]"),
        np.array(amounts, dtype=float),
    )
