"""Currencies: the active ISO 4217 codes, validation of an entered code, the company currency, and
conversion of an amount into it at a dated exchange rate (``crm.models.ExchangeRate``).

The list is the ISO 4217 "List One" of active currencies (funds and precious metals left out). It
changes a few times a decade, so it lives here rather than in a dependency.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Case, DecimalField, OuterRef, Subquery, Value, When

ISO_4217: dict[str, str] = {
    "AED": "UAE Dirham",
    "AFN": "Afghani",
    "ALL": "Lek",
    "AMD": "Armenian Dram",
    "AOA": "Kwanza",
    "ARS": "Argentine Peso",
    "AUD": "Australian Dollar",
    "AWG": "Aruban Florin",
    "AZN": "Azerbaijan Manat",
    "BAM": "Convertible Mark",
    "BBD": "Barbados Dollar",
    "BDT": "Taka",
    "BGN": "Bulgarian Lev",
    "BHD": "Bahraini Dinar",
    "BIF": "Burundi Franc",
    "BMD": "Bermudian Dollar",
    "BND": "Brunei Dollar",
    "BOB": "Boliviano",
    "BRL": "Brazilian Real",
    "BSD": "Bahamian Dollar",
    "BTN": "Ngultrum",
    "BWP": "Pula",
    "BYN": "Belarusian Ruble",
    "BZD": "Belize Dollar",
    "CAD": "Canadian Dollar",
    "CDF": "Congolese Franc",
    "CHF": "Swiss Franc",
    "CLP": "Chilean Peso",
    "CNY": "Yuan Renminbi",
    "COP": "Colombian Peso",
    "CRC": "Costa Rican Colon",
    "CUP": "Cuban Peso",
    "CVE": "Cabo Verde Escudo",
    "CZK": "Czech Koruna",
    "DJF": "Djibouti Franc",
    "DKK": "Danish Krone",
    "DOP": "Dominican Peso",
    "DZD": "Algerian Dinar",
    "EGP": "Egyptian Pound",
    "ERN": "Nakfa",
    "ETB": "Ethiopian Birr",
    "EUR": "Euro",
    "FJD": "Fiji Dollar",
    "FKP": "Falkland Islands Pound",
    "GBP": "Pound Sterling",
    "GEL": "Lari",
    "GHS": "Ghana Cedi",
    "GIP": "Gibraltar Pound",
    "GMD": "Dalasi",
    "GNF": "Guinean Franc",
    "GTQ": "Quetzal",
    "GYD": "Guyana Dollar",
    "HKD": "Hong Kong Dollar",
    "HNL": "Lempira",
    "HTG": "Gourde",
    "HUF": "Forint",
    "IDR": "Rupiah",
    "ILS": "New Israeli Sheqel",
    "INR": "Indian Rupee",
    "IQD": "Iraqi Dinar",
    "IRR": "Iranian Rial",
    "ISK": "Iceland Krona",
    "JMD": "Jamaican Dollar",
    "JOD": "Jordanian Dinar",
    "JPY": "Yen",
    "KES": "Kenyan Shilling",
    "KGS": "Som",
    "KHR": "Riel",
    "KMF": "Comorian Franc",
    "KPW": "North Korean Won",
    "KRW": "Won",
    "KWD": "Kuwaiti Dinar",
    "KYD": "Cayman Islands Dollar",
    "KZT": "Tenge",
    "LAK": "Lao Kip",
    "LBP": "Lebanese Pound",
    "LKR": "Sri Lanka Rupee",
    "LRD": "Liberian Dollar",
    "LSL": "Loti",
    "LYD": "Libyan Dinar",
    "MAD": "Moroccan Dirham",
    "MDL": "Moldovan Leu",
    "MGA": "Malagasy Ariary",
    "MKD": "Denar",
    "MMK": "Kyat",
    "MNT": "Tugrik",
    "MOP": "Pataca",
    "MRU": "Ouguiya",
    "MUR": "Mauritius Rupee",
    "MVR": "Rufiyaa",
    "MWK": "Malawi Kwacha",
    "MXN": "Mexican Peso",
    "MYR": "Malaysian Ringgit",
    "MZN": "Mozambique Metical",
    "NAD": "Namibia Dollar",
    "NGN": "Naira",
    "NIO": "Cordoba Oro",
    "NOK": "Norwegian Krone",
    "NPR": "Nepalese Rupee",
    "NZD": "New Zealand Dollar",
    "OMR": "Rial Omani",
    "PAB": "Balboa",
    "PEN": "Sol",
    "PGK": "Kina",
    "PHP": "Philippine Peso",
    "PKR": "Pakistan Rupee",
    "PLN": "Zloty",
    "PYG": "Guarani",
    "QAR": "Qatari Rial",
    "RON": "Romanian Leu",
    "RSD": "Serbian Dinar",
    "RUB": "Russian Ruble",
    "RWF": "Rwanda Franc",
    "SAR": "Saudi Riyal",
    "SBD": "Solomon Islands Dollar",
    "SCR": "Seychelles Rupee",
    "SDG": "Sudanese Pound",
    "SEK": "Swedish Krona",
    "SGD": "Singapore Dollar",
    "SHP": "Saint Helena Pound",
    "SLE": "Leone",
    "SOS": "Somali Shilling",
    "SRD": "Surinam Dollar",
    "SSP": "South Sudanese Pound",
    "STN": "Dobra",
    "SVC": "El Salvador Colon",
    "SYP": "Syrian Pound",
    "SZL": "Lilangeni",
    "THB": "Baht",
    "TJS": "Somoni",
    "TMT": "Turkmenistan New Manat",
    "TND": "Tunisian Dinar",
    "TOP": "Pa'anga",
    "TRY": "Turkish Lira",
    "TTD": "Trinidad and Tobago Dollar",
    "TWD": "New Taiwan Dollar",
    "TZS": "Tanzanian Shilling",
    "UAH": "Hryvnia",
    "UGX": "Uganda Shilling",
    "USD": "US Dollar",
    "UYU": "Peso Uruguayo",
    "UZS": "Uzbekistan Sum",
    "VED": "Bolívar Soberano",
    "VES": "Bolívar Soberano",
    "VND": "Dong",
    "VUV": "Vatu",
    "WST": "Tala",
    "XAF": "CFA Franc BEAC",
    "XCD": "East Caribbean Dollar",
    "XCG": "Caribbean Guilder",
    "XOF": "CFA Franc BCEAO",
    "XPF": "CFP Franc",
    "YER": "Yemeni Rial",
    "ZAR": "Rand",
    "ZMW": "Zambian Kwacha",
    "ZWG": "Zimbabwe Gold",
}

#: Places kept on an exchange rate (one unit of a currency in company-currency units).
RATE_DECIMAL_PLACES = 10
RATE_MAX_DIGITS = 20
_CENT = Decimal("0.01")


def company_currency() -> str:
    """The currency totals are reported in (``COMPANY_CURRENCY``)."""
    return settings.COMPANY_CURRENCY


def normalize_currency(value) -> str:
    """An entered code, trimmed and upper-cased; raises ``ValidationError`` unless it is an
    active ISO 4217 code."""
    code = str(value or "").strip().upper()
    if code not in ISO_4217:
        raise ValidationError(
            f"{code or 'An empty value'} is not an ISO 4217 currency code (such as EUR or USD).",
            code="invalid_currency",
        )
    return code


def validate_currency(value) -> None:
    """Django validator for currency fields: the value must be an active ISO 4217 code."""
    normalize_currency(value)


def currency_choices() -> list[tuple[str, str]]:
    """Form choices, the company currency first, then the rest by code."""
    first = company_currency()
    rest = sorted(code for code in ISO_4217 if code != first)
    return [(code, f"{code} — {ISO_4217[code]}") for code in [first, *rest] if code in ISO_4217]


def currencies_in_use(model, field: str = "currency") -> list[str]:
    """The distinct values of ``field`` in ``model``'s table, in order, read by skipping along
    an index of that column (one index probe per value, a recursive query) instead of reading
    every row: which currencies a report must look at for conversions and rows left out."""
    from django.db import connections, router

    table = model._meta.db_table
    db = router.db_for_read(model)
    connection = connections[db]
    qn = connection.ops.quote_name
    column = qn(model._meta.get_field(field).column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH RECURSIVE seen(value) AS (SELECT min({column}) FROM {qn(table)} "  # noqa: S608
            f"UNION ALL SELECT (SELECT min({column}) FROM {qn(table)} WHERE {column} > seen.value) "
            "FROM seen WHERE seen.value IS NOT NULL) SELECT value FROM seen WHERE value IS NOT NULL"
        )
        return [row[0] for row in cursor.fetchall()]


def company_currency_only(model, field: str = "currency") -> bool:
    """Whether every row of ``model`` is in the company currency (or none has a currency):
    then each amount converts at 1 and a total needs no rate (``currencies_in_use``)."""
    return set(currencies_in_use(model, field)) <= {company_currency()}


def rated(queryset, *, deal_date, single: bool | None = None, currency_field: str = "currency"):
    """``queryset`` with each row's ``rate`` into the company currency on ``deal_date`` (an
    expression, annotated as ``deal_date``; ``rate_expression``), and whether every row is in the
    company currency (``single``; looked up when not given). A total multiplies its amounts by
    ``rate`` and counts ``rate__isnull=True`` as left out either way.

    When every row is in the company currency each converts at 1: the rate is the constant 1 and
    no date is computed, so a total reads only the indexes that hold its amounts (an index-only
    scan) instead of each row for its currency and date, and nothing is left out."""
    if single is None:
        single = company_currency_only(queryset.model, currency_field)
    if single:
        output = DecimalField(max_digits=RATE_MAX_DIGITS, decimal_places=RATE_DECIMAL_PLACES)
        return queryset.annotate(rate=Value(Decimal(1), output_field=output)), True
    rate = rate_expression(currency_field=currency_field, date_field="deal_date")
    return queryset.annotate(deal_date=deal_date, rate=rate), False


@dataclass(frozen=True)
class Converted:
    """An amount in the company currency, with the rate used and the date it was valid from
    (``rate_date`` is None for the company currency itself, which converts at 1)."""

    amount: Decimal
    rate: Decimal
    rate_date: datetime.date | None


def rate_on(currency: str, on: datetime.date):
    """The ``ExchangeRate`` row in force for ``currency`` on ``on`` (the latest one valid from that
    day or before), or None."""
    from crm.models import ExchangeRate

    return (
        ExchangeRate.objects.filter(currency=currency, valid_from__lte=on)
        .order_by("-valid_from")
        .first()
    )


def convert(amount: Decimal, currency: str, *, on: datetime.date) -> Converted | None:
    """``amount`` of ``currency`` in the company currency at the rate in force on ``on``;
    the company currency converts at 1; None when no rate is known for that day."""
    currency = (currency or "").upper()
    if currency == company_currency():
        return Converted(amount=Decimal(amount), rate=Decimal(1), rate_date=None)
    row = rate_on(currency, on)
    if row is None:
        return None
    converted = (Decimal(amount) * row.rate).quantize(_CENT, rounding=ROUND_HALF_UP)
    return Converted(amount=converted, rate=row.rate, rate_date=row.valid_from)


def rate_expression(*, currency_field: str = "currency", date_field: str):
    """A SQL expression for the rate of a row's currency on a row's date: 1 for the company
    currency, the latest ``ExchangeRate`` valid on or before that date otherwise, NULL when
    there is none. Multiply an amount by it inside ``Sum`` to total in the company currency;
    filter ``rate__isnull=True`` to list what was left out."""
    from crm.models import ExchangeRate

    output = DecimalField(max_digits=RATE_MAX_DIGITS, decimal_places=RATE_DECIMAL_PLACES)
    latest = (
        ExchangeRate.objects.filter(
            currency=OuterRef(currency_field), valid_from__lte=OuterRef(date_field)
        )
        .order_by("-valid_from")
        .values("rate")[:1]
    )
    return Case(
        When(**{currency_field: company_currency()}, then=Value(Decimal(1), output_field=output)),
        default=Subquery(latest, output_field=output),
        output_field=output,
    )


def rate_date_expression(*, currency_field: str = "currency", date_field: str):
    """The ``valid_from`` of the rate ``rate_expression`` picks (NULL for the company currency
    and when there is no rate), for the "how computed" note."""
    from crm.models import ExchangeRate

    latest = (
        ExchangeRate.objects.filter(
            currency=OuterRef(currency_field), valid_from__lte=OuterRef(date_field)
        )
        .order_by("-valid_from")
        .values("valid_from")[:1]
    )
    return Subquery(latest)


@dataclass(frozen=True)
class Exchanged:
    """An amount moved from one currency into another at the rates of one day: ``rate`` is
    how many units of the target one unit of the source was worth (the source's rate over the
    target's, both against the company currency)."""

    amount: Decimal
    rate: Decimal
    on: datetime.date


def exchange(amount: Decimal, source: str, target: str, *, on: datetime.date) -> Exchanged | None:
    """``amount`` of ``source`` in ``target`` at the rates in force on ``on`` (through the
    company currency), rounded to cents; None when either currency has no rate that day."""
    source, target = (source or "").upper(), (target or "").upper()
    if source == target:
        return Exchanged(amount=Decimal(amount), rate=Decimal(1), on=on)
    source_rate = convert(Decimal(1), source, on=on)
    target_rate = convert(Decimal(1), target, on=on)
    if source_rate is None or target_rate is None or not target_rate.rate:
        return None
    rate = source_rate.rate / target_rate.rate
    converted = (Decimal(amount) * rate).quantize(_CENT, rounding=ROUND_HALF_UP)
    return Exchanged(
        amount=converted, rate=rate.quantize(Decimal(1).scaleb(-RATE_DECIMAL_PLACES)), on=on
    )


def missing_rate_message(source: str, target: str, on: datetime.date) -> str:
    """The sentence saying a conversion is impossible for want of a rate."""
    company = company_currency()
    lacking = [c for c in (source, target) if c != company and rate_on(c, on) is None]
    names = " and ".join(lacking) or source
    return (
        f"No exchange rate for {names} on {on:%Y-%m-%d}: add one under Settings → Exchange rates "
        f"to convert {source} into {target}."
    )


def currency_rate_expression(currency: str, *, date_field: str):
    """A SQL expression for the rate of one given currency (not a row's) on a row's date: 1 for
    the company currency, NULL when there is no rate."""
    from crm.models import ExchangeRate

    output = DecimalField(max_digits=RATE_MAX_DIGITS, decimal_places=RATE_DECIMAL_PLACES)
    if currency == company_currency():
        return Value(Decimal(1), output_field=output)
    latest = (
        ExchangeRate.objects.filter(currency=currency, valid_from__lte=OuterRef(date_field))
        .order_by("-valid_from")
        .values("rate")[:1]
    )
    return Subquery(latest, output_field=output)
