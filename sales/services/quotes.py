"""Quotes: numbered offers made from a deal's line items, and their status."""

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.choices import ActivityKind
from crm.db import lock_rows
from crm.permissions import may_configure_company
from crm.services.timeline import activity_log
from sales.choices import Billing, QuoteStatus, quote_next_statuses
from sales.models import Opportunity, Quote, QuoteCounter, SellerProfile


def quote_validity_days() -> int:
    return getattr(settings, "SALES_QUOTE_VALID_DAYS", 30)


def quote_number_next(*, year: int, prefix: str = "Q") -> str:
    """The next number of ``year`` (Q-2026-00001…, with the seller's prefix): the year's
    counter row is locked until the caller's transaction ends, so two quotes never share a
    number and none is skipped. The counter is the year's, whatever the prefix."""
    try:
        with transaction.atomic():
            QuoteCounter.objects.get_or_create(year=year)
    except IntegrityError:
        pass  # created concurrently; the lock below waits for it
    counter = QuoteCounter.objects.select_for_update().get(year=year)
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    return f"{prefix or 'Q'}-{year}-{counter.last_number:05d}"


def quote_seller_snapshot(profile: SellerProfile, opportunity: Opportunity) -> dict:
    """The seller's details as printed on a quote, kept on it when it is made."""
    owner = opportunity.owner
    return {
        "legal_name": profile.legal_name,
        "address": profile.address,
        "tax_id": profile.tax_id,
        "email": profile.email,
        "phone": profile.phone,
        "payment_terms": profile.payment_terms,
        "quote_footer": profile.quote_footer,
        "prepared_by": (owner.get_full_name() or owner.username) if owner else "",
    }


def quote_buyer_snapshot(opportunity: Opportunity) -> dict:
    """The customer's details (the deal's account and contact) as they are when quoted."""
    account, contact = opportunity.account, opportunity.primary_contact
    return {
        "account_name": account.name if account else "",
        "billing_address": account.billing_address if account else "",
        "contact_name": contact.full_name if contact else "",
        "contact_email": contact.email if contact else "",
    }


def quote_prepared_by(quote: Quote) -> str:
    if quote.seller.get("prepared_by"):
        return quote.seller["prepared_by"]
    owner = quote.opportunity.owner
    return (owner.get_full_name() or owner.username) if owner else ""


def quote_lines_snapshot(items) -> list[dict]:
    """The line items (with their products, ordered by id) as a quote keeps them: plain JSON,
    so a quote shows what was offered whatever happens to the deal's lines later, and the deal
    page can tell whether its lines still match its latest quote."""
    return [
        {
            "product": item.product.name,
            "sku": item.product.sku,
            "description": item.description,
            "quantity": item.quantity,
            "unit_price": str(item.unit_price),
            "discount_percent": str(item.discount_percent),
            "tax_rate": str(item.tax_rate),
            "billing": item.billing,
            "total": str(item.total),
        }
        for item in items
    ]


def quote_lines_match(items, quote: Quote) -> bool:
    """Whether the deal's line items are still what ``quote`` offers (a quote made before lines
    had a tax rate counts as 0 % tax)."""
    quoted = [{"tax_rate": "0.00", **line} for line in quote.lines]
    return quote_lines_snapshot(items) == quoted


@transaction.atomic
def quote_create(*, opportunity: Opportunity, user) -> Quote:
    """A draft quote holding a snapshot of the deal's line items as they are now."""
    items = list(opportunity.line_items.select_related("product").order_by("id"))
    if not items:
        raise ValidationError("Add products to the deal before making a quote.")
    lines = quote_lines_snapshot(items)
    one_off = sum((i.total for i in items if i.billing == Billing.ONE_OFF), Decimal("0"))
    monthly = sum((i.total for i in items if i.billing == Billing.MONTHLY), Decimal("0"))
    today = timezone.localdate()
    profile = SellerProfile.current()
    opportunity = Opportunity.objects.select_related("account", "primary_contact", "owner").get(
        pk=opportunity.pk
    )
    quote = Quote.objects.create(
        opportunity=opportunity,
        number=quote_number_next(year=today.year, prefix=profile.quote_prefix),
        currency=opportunity.currency,
        one_off_total=one_off,
        monthly_total=monthly,
        lines=lines,
        seller=quote_seller_snapshot(profile, opportunity),
        buyer=quote_buyer_snapshot(opportunity),
        valid_until=today + timedelta(days=quote_validity_days()),
        created_by=user,
    )
    activity_log(
        subject=opportunity,
        kind=ActivityKind.SYSTEM,
        summary=f"Quote {quote.number} drafted",
        actor=user,
    )
    return quote


@transaction.atomic
def quote_set_status(*, quote: Quote, status: str, user) -> Quote:
    """Draft → sent → accepted or declined (a draft may be declined too); anything else is
    refused. Setting the status a quote already has changes nothing."""
    lock_rows(Quote, quote.pk)
    quote = Quote.objects.select_related("opportunity").get(pk=quote.pk)
    if quote.status == status:
        return quote
    if status not in quote_next_statuses(quote.status):
        raise ValidationError(
            f"A {quote.get_status_display().lower()} quote cannot become "
            f"{QuoteStatus(status).label.lower() if status in QuoteStatus.values else status}."
        )
    now = timezone.now()
    quote.status = status
    fields = ["status"]
    if status == QuoteStatus.SENT:
        quote.sent_at = now
        fields.append("sent_at")
    else:
        quote.decided_at = now
        fields.append("decided_at")
    quote.save(update_fields=fields)
    activity_log(
        subject=quote.opportunity,
        kind=ActivityKind.SYSTEM,
        summary=f"Quote {quote.number} {quote.get_status_display().lower()}",
        actor=user,
    )
    return quote


SELLER_PROFILE_FIELDS = (
    "legal_name",
    "address",
    "tax_id",
    "email",
    "phone",
    "payment_terms",
    "quote_footer",
    "default_tax_rate",
    "quote_prefix",
)


@transaction.atomic
def seller_profile_update(*, user, **data) -> SellerProfile:
    """Changes the seller's details; quotes made before keep the details they were made with."""
    if not may_configure_company(user):
        raise PermissionDenied
    SellerProfile.current()
    profile = SellerProfile.objects.select_for_update().get(pk=1)
    changed = [
        name
        for name in SELLER_PROFILE_FIELDS
        if name in data and data[name] is not None and getattr(profile, name) != data[name]
    ]
    for name in changed:
        setattr(profile, name, data[name])
    profile.full_clean()
    if changed:
        profile.save(update_fields=[*changed, "updated_at"])
    return profile
