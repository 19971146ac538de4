"""Quotes: numbered offers made from a deal's line items, and their status."""

import secrets
import uuid
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from crm.choices import ActivityKind
from crm.db import lock_rows
from crm.models import Contact
from crm.permissions import may_configure_company
from crm.registry import AttachmentGone, EmailAttachment
from crm.services.outbox import email_queue
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


# Sending and the customer's answer ------------------------------------------------------------

#: The outbox attachment kind of a quote's PDF (``crm.registry.email_attachments``).
QUOTE_PDF_ATTACHMENT = "sales.quote_pdf"


def quote_public_url(quote: Quote) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("sales:quote_public", args=[quote.public_token])


def quote_superseded_by(quote: Quote) -> Quote | None:
    """The deal's newest quote when it is newer than ``quote``: the offer that replaces it."""
    newest = quote.opportunity.quotes.order_by("-created_at", "-id").first()
    if newest is None or newest.pk == quote.pk:
        return None
    return newest


def quote_recipient_check(*, quote: Quote, to_email: str) -> Contact:
    """The contact of the deal's account with address ``to_email`` who agreed to service email:
    quotes go only to such a contact, as other service email does."""
    account = quote.opportunity.account
    contacts = list(Contact.objects.filter(account=account, email__iexact=to_email.strip()))
    if not contacts:
        raise ValidationError(
            {"to_email": f"Send the quote to a contact of {account.name}: add them first."}
        )
    agreed = [c for c in contacts if c.email_consent]
    if not agreed:
        raise ValidationError(
            {"to_email": f"{contacts[0].full_name} has not agreed to service email."}
        )
    return agreed[0]


@transaction.atomic
def quote_send(*, quote: Quote, user, to_email: str, subject: str, message: str) -> Quote:
    """Queues an email to the customer with the quote's PDF attached (made by the outbox at
    send time from the quote, so a crashed worker sends the same file) and the customer's link
    to accept or decline it; a draft becomes sent. A decided or replaced quote is not sent."""
    lock_rows(Quote, quote.pk)
    quote = Quote.objects.select_related("opportunity__account").get(pk=quote.pk)
    if quote.status not in (QuoteStatus.DRAFT, QuoteStatus.SENT):
        raise ValidationError(f"This quote is {quote.get_status_display().lower()} already.")
    newer = quote_superseded_by(quote)
    if newer is not None:
        raise ValidationError(f"Quote {newer.number} replaces this one: send that one.")
    if not (subject or "").strip():
        raise ValidationError({"subject": "A subject, please."})
    contact = quote_recipient_check(quote=quote, to_email=to_email)
    fields = ["sent_to"]
    if not quote.public_token:
        quote.public_token = secrets.token_urlsafe(32)
        fields.append("public_token")
    quote.sent_to = contact.email
    if quote.status == QuoteStatus.DRAFT:
        quote.status, quote.sent_at = QuoteStatus.SENT, timezone.now()
        fields += ["status", "sent_at"]
    quote.save(update_fields=fields)
    link = quote_public_url(quote)
    body = (message or "").strip()
    body += (
        f"\n\nQuote {quote.number} is attached as a PDF. You can also read it, and accept or "
        f"decline it, here:\n{link}\n"
    )
    if quote.valid_until:
        body += f"\nThe offer is valid until {quote.valid_until:%Y-%m-%d}.\n"
    email_queue(
        to_email=contact.email,
        subject=subject.strip(),
        body_text=body,
        related=quote.opportunity,
        idempotency_key=f"quote-send:{quote.pk}:{uuid.uuid4().hex}",
        attachments=[{"kind": QUOTE_PDF_ATTACHMENT, "ref": {"quote_id": quote.pk}}],
    )
    activity_log(
        subject=quote.opportunity,
        kind=ActivityKind.EMAIL,
        summary=f"Quote {quote.number} sent to {contact.email}",
        body=body[:2000],
        actor=user,
    )
    return quote


def quote_pdf_attachment(ref: dict) -> EmailAttachment:
    """The outbox's maker of a quote's PDF attachment."""
    from sales.documents import quote_pdf, quote_pdf_filename

    quote = (
        Quote.objects.select_related("opportunity__account", "opportunity__primary_contact")
        .filter(pk=ref.get("quote_id"))
        .first()
    )
    if quote is None:
        raise AttachmentGone(f"Quote {ref.get('quote_id')} no longer exists")
    return EmailAttachment(quote_pdf_filename(quote), quote_pdf(quote), "application/pdf")


def quote_public_state(quote: Quote) -> str:
    """What the customer may do with the quote: ``open`` (accept or decline), ``decided``,
    ``superseded`` or ``expired``."""
    if quote.status in (QuoteStatus.ACCEPTED, QuoteStatus.DECLINED):
        return "decided"
    if quote_superseded_by(quote) is not None:
        return "superseded"
    if quote.valid_until and quote.valid_until < timezone.localdate():
        return "expired"
    if quote.status != QuoteStatus.SENT:
        return "superseded"
    return "open"


STATE_MESSAGES = {
    "decided": "This quote has been answered already.",
    "superseded": "A newer quote replaces this one; please use the link in the latest email.",
    "expired": "This offer has expired. Please ask us for a new quote.",
}


@transaction.atomic
def quote_decide(*, quote: Quote, accept: bool, name: str) -> Quote:
    """The customer accepts or declines a sent quote through their link, typing their name as
    signature. A decided, replaced or expired quote cannot be answered."""
    lock_rows(Quote, quote.pk)
    quote = Quote.objects.select_related("opportunity").get(pk=quote.pk)
    state = quote_public_state(quote)
    if state != "open":
        raise ValidationError(STATE_MESSAGES[state])
    name = " ".join((name or "").split())
    if not name:
        raise ValidationError({"name": "Type your full name to sign."})
    if len(name) > 200:
        raise ValidationError({"name": "At most 200 characters."})
    quote.status = QuoteStatus.ACCEPTED if accept else QuoteStatus.DECLINED
    quote.decided_at = timezone.now()
    quote.decided_by_name = name
    quote.save(update_fields=["status", "decided_at", "decided_by_name"])
    activity_log(
        subject=quote.opportunity,
        kind=ActivityKind.SYSTEM,
        summary=f"Quote {quote.number} {quote.get_status_display().lower()} online by {name}",
    )
    return quote
