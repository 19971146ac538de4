"""Writes to the exchange-rate table: one rate by hand, a CSV of rates, deleting a rate."""

import csv
import datetime
import io
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import transaction

from crm.choices import ExchangeRateSource
from crm.currencies import (
    RATE_DECIMAL_PLACES,
    RATE_MAX_DIGITS,
    company_currency,
    normalize_currency,
)
from crm.models import ExchangeRate

#: Largest CSV of rates accepted (a daily rate for every currency over years fits well within).
MAX_CSV_BYTES = 2 * 1024 * 1024
_MAX_RATE = Decimal(10) ** (RATE_MAX_DIGITS - RATE_DECIMAL_PLACES)


def clean_rate(value) -> Decimal:
    """A rate as entered, checked: a positive number that fits the table's precision."""
    try:
        rate = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError(f"{value!r} is not a number.") from None
    if not rate.is_finite() or rate <= 0:
        raise ValidationError("A rate must be a positive number.")
    if rate >= _MAX_RATE:
        raise ValidationError("That rate is too large.")
    return rate.quantize(Decimal(1).scaleb(-RATE_DECIMAL_PLACES))


def clean_rate_currency(value) -> str:
    """A currency that may carry a rate: an ISO 4217 code other than the company currency."""
    code = normalize_currency(value)
    if code == company_currency():
        raise ValidationError(f"{code} is the company currency; it always converts at 1.")
    return code


def exchange_rate_set(
    *, user, currency: str, valid_from: datetime.date, rate, source: str = ExchangeRateSource.MANUAL
) -> ExchangeRate:
    """Records the rate of ``currency`` from ``valid_from`` on, replacing one already given for
    that day."""
    currency = clean_rate_currency(currency)
    rate = clean_rate(rate)
    obj, _ = ExchangeRate.objects.update_or_create(
        currency=currency,
        valid_from=valid_from,
        defaults={"rate": rate, "source": source, "created_by": user},
    )
    return obj


def exchange_rate_delete(*, user, rate: ExchangeRate) -> None:
    """Removes a rate; totals on its days then use the rate before it (or leave the deals out)."""
    rate.delete()


@dataclass
class RateImportResult:
    """What a CSV upload did: how many rates it saved and each refused line with the reason."""

    saved: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)


def _parse_date(value: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(value.strip())
    except ValueError:
        raise ValidationError(f"{value!r} is not a date (YYYY-MM-DD).") from None


def exchange_rates_import_csv(*, user, data: bytes) -> RateImportResult:
    """Saves each good line of a ``currency,date,rate`` CSV (a header line is optional) and
    reports every bad one by its line number; a later line for the same currency and date wins."""
    result = RateImportResult()
    if len(data) > MAX_CSV_BYTES:
        result.errors.append((0, "The file is larger than 2 MB."))
        return result
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        result.errors.append((0, "The file is not UTF-8 text."))
        return result
    good: dict[tuple[str, datetime.date], Decimal] = {}
    for number, row in enumerate(csv.reader(io.StringIO(text)), start=1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if number == 1 and [c.lower() for c in cells[:3]] == ["currency", "date", "rate"]:
            continue
        if len(cells) != 3:
            result.errors.append(
                (number, f"Expected 3 columns (currency,date,rate), got {len(cells)}.")
            )
            continue
        try:
            currency = clean_rate_currency(cells[0])
            day = _parse_date(cells[1])
            rate = clean_rate(cells[2])
        except ValidationError as error:
            result.errors.append((number, " ".join(error.messages)))
            continue
        good[(currency, day)] = rate
    with transaction.atomic():
        for (currency, day), rate in good.items():
            exchange_rate_set(
                user=user,
                currency=currency,
                valid_from=day,
                rate=rate,
                source=ExchangeRateSource.CSV,
            )
    result.saved = len(good)
    return result
