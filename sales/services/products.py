"""The product catalogue: adding and changing products (managers and admins)."""

from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from sales.choices import Billing
from sales.models import Product, SellerProfile

PRODUCT_FIELDS = (
    "name",
    "sku",
    "description",
    "price",
    "currency",
    "billing",
    "tax_rate",
    "is_active",
)


def product_tax_rate(product: Product) -> Decimal:
    """The tax rate a new line of ``product`` starts with: its own, else the seller's default."""
    if product.tax_rate is not None:
        return product.tax_rate
    return SellerProfile.current().default_tax_rate


def _check(data: dict, *, exclude_pk=None) -> None:
    if "sku" in data:
        if not data["sku"]:
            raise ValidationError({"sku": "A product needs a SKU."})
        clash = Product.objects.filter(sku__iexact=data["sku"]).exclude(pk=exclude_pk)
        if clash.exists():
            raise ValidationError({"sku": f"The SKU “{data['sku']}” is another product's."})
    if "name" in data and not data["name"]:
        raise ValidationError({"name": "A product needs a name."})
    if data.get("price") is not None and data["price"] < 0:
        raise ValidationError({"price": "A price is not negative."})
    if "billing" in data and data["billing"] not in Billing.values:
        raise ValidationError({"billing": "Choose one-off or monthly billing."})
    if data.get("tax_rate") is not None and not (0 <= data["tax_rate"] <= 100):
        raise ValidationError({"tax_rate": "Between 0 and 100, or empty for the default."})


@transaction.atomic
def product_create(*, user, **data) -> Product:
    values = {k: v for k, v in data.items() if k in PRODUCT_FIELDS and v is not None}
    values.setdefault("currency", settings.DEFAULT_CURRENCY)
    values.setdefault("price", Decimal("0"))
    _check({"sku": "", "name": "", **values})
    return Product.objects.create(**values)


@transaction.atomic
def product_update(*, product: Product, user, **data) -> Product:
    data = {k: v for k, v in data.items() if k in PRODUCT_FIELDS}
    if data.get("price") is None:
        data.pop("price", None)
    _check(data, exclude_pk=product.pk)
    changed = [f for f in PRODUCT_FIELDS if f in data and getattr(product, f) != data[f]]
    for name in changed:
        setattr(product, name, data[name])
    if changed:
        product.save(update_fields=changed)
    return product
