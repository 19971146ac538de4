"""Orders: the revenue history. Recorded once per won deal, or imported from a CSV file."""

import csv
import io
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.dateparse import parse_date

from crm.currencies import ISO_4217
from crm.models import Account
from crm.normalize import normalize_domain
from sales.choices import Billing, OrderSource
from sales.models import Opportunity, Order, OrderLine, Product

IMPORT_CHUNK = 500
IMPORT_COLUMNS = (
    "external_ref",
    "account_id",
    "account_domain",
    "account_name",
    "order_date",
    "amount",
    "currency",
    "product_sku",
    "quantity",
    "billing",
    "description",
)


def order_record_for_opportunity(*, opportunity: Opportunity, user) -> Order:
    """The won deal's order with a line per line item (one line for the amount when it has
    none). At most one per deal: a second call returns the first order."""
    existing = Order.objects.filter(opportunity=opportunity).first()
    if existing is not None:
        return existing
    closed_on = (opportunity.closed_at or opportunity.updated_at).date()
    try:
        with transaction.atomic():
            order = Order.objects.create(
                account_id=opportunity.account_id,
                opportunity=opportunity,
                owner_id=opportunity.owner_id,
                order_date=closed_on,
                amount=opportunity.amount,
                currency=opportunity.currency,
                one_off_amount=opportunity.one_off_amount,
                mrr=opportunity.mrr,
                source=OrderSource.WON,
            )
    except IntegrityError:
        return Order.objects.get(opportunity=opportunity)
    items = list(opportunity.line_items.all())
    if items:
        lines = [
            OrderLine(
                order=order,
                product_id=item.product_id,
                description=item.description,
                quantity=item.quantity,
                unit_price=item.unit_price,
                discount_percent=item.discount_percent,
                billing=item.billing,
                total=item.total,
            )
            for item in items
        ]
    else:
        lines = [
            OrderLine(
                order=order,
                description=opportunity.name[:200],
                quantity=1,
                unit_price=opportunity.amount,
                total=opportunity.amount,
            )
        ]
    OrderLine.objects.bulk_create(lines)
    return order


@dataclass
class ImportResult:
    created: int = 0
    skipped: int = 0  # already imported (same external reference)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, message)

    @property
    def ok(self) -> bool:
        return not self.errors


def _decimal(value: str, name: str) -> Decimal:
    try:
        number = Decimal((value or "").replace(",", "").strip())
    except InvalidOperation:
        raise ValidationError(f"{name} is not a number: {value!r}") from None
    if not number.is_finite():
        raise ValidationError(f"{name} is not a number: {value!r}")
    return number


def _find_account(row: dict) -> Account:
    account_id = (row.get("account_id") or "").strip()
    if account_id:
        if not account_id.isdigit():
            raise ValidationError(f"account_id is not a number: {account_id!r}")
        account = Account.objects.filter(pk=int(account_id)).first()
        if account is None:
            raise ValidationError(f"No account with id {account_id}.")
        return account
    domain = normalize_domain(row.get("account_domain") or "")
    if domain:
        account = Account.objects.filter(domain=domain).order_by("id").first()
        if account is None:
            raise ValidationError(f"No account with domain {domain}.")
        return account
    name = (row.get("account_name") or "").strip()
    if name:
        matches = list(Account.objects.filter(name__iexact=name).order_by("id")[:2])
        if len(matches) != 1:
            raise ValidationError(
                f"{'No' if not matches else 'More than one'} account named {name!r}."
            )
        return matches[0]
    raise ValidationError("Give account_id, account_domain or account_name.")


def _parse_row(row: dict, products: dict[str, Product]) -> tuple[Order, OrderLine]:
    account = _find_account(row)
    raw_date = (row.get("order_date") or "").strip()
    try:
        order_date = parse_date(raw_date)
    except ValueError:
        order_date = None
    if order_date is None:
        raise ValidationError(f"order_date must be YYYY-MM-DD, not {raw_date!r}.")
    if order_date > date.today():
        raise ValidationError("order_date is in the future.")
    amount = _decimal(row.get("amount", ""), "amount")
    if amount < 0:
        raise ValidationError("amount cannot be negative.")
    currency = (row.get("currency") or account.deal_currency).strip().upper()
    if currency not in ISO_4217:
        raise ValidationError(f"currency must be an ISO 4217 code, not {currency!r}.")
    sku = (row.get("product_sku") or "").strip()
    product = None
    if sku:
        product = products.get(sku)
        if product is None:
            product = Product.objects.filter(sku=sku).first()
            if product is None:
                raise ValidationError(f"No product with SKU {sku!r}.")
            products[sku] = product
    quantity_raw = (row.get("quantity") or "1").strip()
    if not quantity_raw.isdigit() or int(quantity_raw) < 1:
        raise ValidationError(
            f"quantity must be a whole number of at least 1, not {quantity_raw!r}."
        )
    quantity = int(quantity_raw)
    billing = (row.get("billing") or (product.billing if product else Billing.ONE_OFF)).strip()
    if billing not in Billing.values:
        raise ValidationError(f"billing must be one of {', '.join(Billing.values)}.")
    description = (row.get("description") or (product.name if product else "Imported order"))[:200]
    order = Order(
        account=account,
        owner_id=account.owner_id,
        order_date=order_date,
        amount=amount,
        currency=currency,
        one_off_amount=amount if billing == Billing.ONE_OFF else Decimal("0"),
        mrr=amount if billing == Billing.MONTHLY else Decimal("0"),
        source=OrderSource.IMPORT,
        external_ref=(row.get("external_ref") or "").strip()[:100],
    )
    line = OrderLine(
        product=product,
        description=description,
        quantity=quantity,
        unit_price=(amount / quantity).quantize(Decimal("0.01")),
        billing=billing,
        total=amount,
    )
    return order, line


def orders_import(*, file, user=None) -> ImportResult:
    """Import past orders from CSV (one order a row; a header row names the columns, see
    ``IMPORT_COLUMNS``). Bad rows are reported with their line number and skipped; good rows
    are kept, written in chunks of ``IMPORT_CHUNK`` rows per transaction. A row whose
    ``external_ref`` was imported before is skipped, so importing a file twice is harmless."""
    result = ImportResult()
    if isinstance(file, bytes | bytearray):
        file = io.StringIO(bytes(file).decode("utf-8-sig", errors="replace"))
    elif hasattr(file, "read") and not isinstance(file, io.TextIOBase):
        file = io.TextIOWrapper(file, encoding="utf-8-sig", errors="replace", newline="")
    reader = csv.DictReader(file)
    header = [h.strip().lower() for h in (reader.fieldnames or [])]
    if "order_date" not in header or "amount" not in header:
        result.errors.append((1, "The header row must name at least order_date and amount."))
        return result
    reader.fieldnames = header
    products: dict[str, Product] = {}
    chunk: list[tuple[int, dict]] = []

    def flush():
        if not chunk:
            return
        with transaction.atomic():
            for line_no, row in chunk:
                _import_one(line_no, row, products, result)
        chunk.clear()

    try:
        for row in reader:
            chunk.append((reader.line_num, row))
            if len(chunk) >= IMPORT_CHUNK:
                flush()
        flush()
    except csv.Error as exc:
        result.errors.append((reader.line_num, f"Not a readable CSV file: {exc}"))
    return result


def _import_one(line_no: int, row: dict, products, result: ImportResult) -> None:
    if None in row:  # more cells than the header has columns
        result.errors.append((line_no, "The row has more cells than the header."))
        return
    row = {k: (v or "") for k, v in row.items()}
    try:
        order, line = _parse_row(row, products)
    except ValidationError as exc:
        result.errors.append((line_no, "; ".join(exc.messages)))
        return
    if order.external_ref and Order.objects.filter(external_ref=order.external_ref).exists():
        result.skipped += 1
        return
    try:
        with transaction.atomic():
            order.save()
            line.order = order
            line.save()
    except IntegrityError:
        result.skipped += 1  # a concurrent import took the same reference
        return
    result.created += 1
