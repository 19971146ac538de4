"""Quotes: numbered offers made from a deal's line items, and their status."""

from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from crm.choices import ActivityKind
from crm.db import lock_rows
from crm.services.timeline import activity_log
from sales.choices import Billing, QuoteStatus, quote_next_statuses
from sales.models import Opportunity, Quote, QuoteCounter


def quote_validity_days() -> int:
    return getattr(settings, "SALES_QUOTE_VALID_DAYS", 30)


def quote_number_next(*, year: int) -> str:
    """The next number of ``year`` (Q-2026-00001…): the year's counter row is locked until the
    caller's transaction ends, so two quotes never share a number and none is skipped."""
    try:
        with transaction.atomic():
            QuoteCounter.objects.get_or_create(year=year)
    except IntegrityError:
        pass  # created concurrently; the lock below waits for it
    counter = QuoteCounter.objects.select_for_update().get(year=year)
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    return f"Q-{year}-{counter.last_number:05d}"


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
            "billing": item.billing,
            "total": str(item.total),
        }
        for item in items
    ]


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
    quote = Quote.objects.create(
        opportunity=opportunity,
        number=quote_number_next(year=today.year),
        currency=opportunity.currency,
        one_off_total=one_off,
        monthly_total=monthly,
        lines=lines,
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
