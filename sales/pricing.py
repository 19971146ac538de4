"""Quote arithmetic: a line's discount and net amount, and a quote's subtotal, discount, tax per
rate and grand total, in Decimal, rounded to cents half-up.

Where each rounding happens (the same on the page, in the PDF and in the tests):
- a line's discount is ``quantity × unit price × discount %`` rounded to cents; its net amount
  is the gross less that discount;
- tax is worked out once per rate, on the sum of the net amounts taxed at that rate, and
  rounded to cents, so a quote with many small lines at one rate carries no pile-up of
  per-line rounding;
- one-off and monthly lines are summed apart: a monthly line is a charge per month, never
  added to a one-off amount.

Quotes made before lines carried a tax rate read as 0 % tax; their stored line total stays
their net amount, so an old quote shows the same figures it always did.
"""

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from sales.choices import Billing

CENT = Decimal("0.01")
HUNDRED = Decimal("100")
ZERO = Decimal("0")


def money(value) -> Decimal:
    """``value`` rounded to cents, halves away from zero (2.345 → 2.35)."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def line_discount(*, unit_price, quantity, discount_percent) -> Decimal:
    gross = Decimal(unit_price) * quantity
    return money(gross * Decimal(discount_percent) / HUNDRED)


def line_net(*, unit_price, quantity, discount_percent) -> Decimal:
    """A line's amount after its discount, before tax."""
    gross = Decimal(unit_price) * quantity
    return money(gross) - line_discount(
        unit_price=unit_price, quantity=quantity, discount_percent=discount_percent
    )


@dataclass
class TaxRow:
    rate: Decimal
    base: Decimal
    tax: Decimal


@dataclass
class Totals:
    """The figures of one billing kind (one-off, or per month) of a quote."""

    billing: str
    subtotal: Decimal = ZERO  # before discounts
    discount: Decimal = ZERO
    net: Decimal = ZERO  # after discounts, before tax
    taxes: list[TaxRow] = field(default_factory=list)

    @property
    def tax(self) -> Decimal:
        return sum((row.tax for row in self.taxes), ZERO)

    @property
    def total(self) -> Decimal:
        return self.net + self.tax

    @property
    def label(self) -> str:
        return "Monthly" if self.billing == Billing.MONTHLY else "One-off"


@dataclass
class QuoteLine:
    """One quoted line as shown to the customer, read from a quote's JSON snapshot."""

    description: str
    sku: str
    billing: str
    quantity: int
    unit_price: Decimal
    discount_percent: Decimal
    tax_rate: Decimal
    subtotal: Decimal
    discount: Decimal
    net: Decimal

    @property
    def per_month(self) -> bool:
        return self.billing == Billing.MONTHLY


def _decimal(value, default=ZERO) -> Decimal:
    if value in (None, ""):
        return default
    return Decimal(str(value))


def quote_line(data: dict) -> QuoteLine:
    """A snapshot line (old ones without ``tax_rate`` are untaxed) with its amounts."""
    unit_price = _decimal(data.get("unit_price"))
    quantity = int(data.get("quantity") or 0)
    discount_percent = _decimal(data.get("discount_percent"))
    subtotal = money(unit_price * quantity)
    if data.get("total") not in (None, ""):
        net = money(_decimal(data["total"]))
    else:
        net = line_net(unit_price=unit_price, quantity=quantity, discount_percent=discount_percent)
    return QuoteLine(
        description=data.get("description") or data.get("product") or "",
        sku=data.get("sku") or "",
        billing=data.get("billing") or Billing.ONE_OFF,
        quantity=quantity,
        unit_price=unit_price,
        discount_percent=discount_percent,
        tax_rate=_decimal(data.get("tax_rate")),
        subtotal=subtotal,
        discount=subtotal - net,
        net=net,
    )


def quote_totals(lines: list[QuoteLine]) -> list[Totals]:
    """The one-off figures, then the monthly ones; a kind without lines is left out."""
    result = []
    for billing in (Billing.ONE_OFF, Billing.MONTHLY):
        mine = [
            line
            for line in lines
            if (line.billing == Billing.MONTHLY) == (billing == Billing.MONTHLY)
        ]
        if not mine:
            continue
        totals = Totals(billing=billing)
        bases: dict[Decimal, Decimal] = {}
        for line in mine:
            totals.subtotal += line.subtotal
            totals.discount += line.discount
            totals.net += line.net
            bases[line.tax_rate] = bases.get(line.tax_rate, ZERO) + line.net
        totals.taxes = [
            TaxRow(rate=rate, base=base, tax=money(base * rate / HUNDRED))
            for rate, base in sorted(bases.items())
            if rate
        ]
        result.append(totals)
    return result


@dataclass
class QuoteFigures:
    lines: list[QuoteLine]
    totals: list[Totals]


def quote_figures(snapshot: list[dict]) -> QuoteFigures:
    lines = [quote_line(item) for item in snapshot or []]
    return QuoteFigures(lines=lines, totals=quote_totals(lines))
