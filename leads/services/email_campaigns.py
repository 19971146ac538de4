"""Email campaigns: choose recipients from a segment, send at a per-minute rate through the
outbox, track opens and clicks with signed links, honour bounces and unsubscribes, and pick the
A/B winner once.

Every step is safe to rerun: recipients are prepared once (a conditional UPDATE of
``prepared_at`` in the same transaction as the insert), each send claims its recipients with a
conditional UPDATE pending → queued in the transaction that queues the emails, and the outbox
key ``camp:<campaign>:<contact>`` makes a second queue of the same email a no-op.
"""

import contextlib
import hashlib
import logging
import re
from datetime import timedelta
from html import unescape

from django.conf import settings
from django.core import signing
from django.db import connection, transaction
from django.db.models import Case, Exists, F, OuterRef, Q, Value, When
from django.db.models.functions import Coalesce
from django.template import TemplateSyntaxError
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape, linebreaks

from crm.choices import OutboxStatus
from crm.models import Contact
from crm.segments.selectors import segment_queryset
from crm.services.outbox import email_queue
from crm.services.timeline import system_event
from leads.choices import (
    EmailCampaignStatus,
    RecipientStatus,
    SkipReason,
    SuppressionReason,
)
from leads.models import CampaignRecipient, EmailCampaign, EmailVariant, Lead, Suppression
from leads.services.sequences import UNSUBSCRIBE_SALT, lead_unsubscribe, template_render

logger = logging.getLogger(__name__)

OPEN_SALT = "leads.email_campaign.open"
CLICK_SALT = "leads.email_campaign.click"
CHUNK = 5000
BUCKETS = 1000

ALLOWED = {
    EmailCampaignStatus.DRAFT: {EmailCampaignStatus.SCHEDULED, EmailCampaignStatus.CANCELLED},
    EmailCampaignStatus.SCHEDULED: {
        EmailCampaignStatus.DRAFT,
        EmailCampaignStatus.SENDING,
        EmailCampaignStatus.CANCELLED,
    },
    EmailCampaignStatus.SENDING: {EmailCampaignStatus.SENT, EmailCampaignStatus.CANCELLED},
    EmailCampaignStatus.SENT: set(),
    EmailCampaignStatus.CANCELLED: set(),
}


class TransitionError(ValueError):
    pass


# --- status ---------------------------------------------------------------------------------


@transaction.atomic
def email_campaign_set_status(*, campaign: EmailCampaign, status: str, user=None, **fields):
    """The one way a campaign changes status: checked against ``ALLOWED`` with a conditional
    UPDATE (a concurrent change wins, this one raises) and written to the campaign's timeline."""
    current = campaign.status
    if status not in ALLOWED.get(current, set()):
        raise TransitionError(f"A {current} campaign cannot become {status}.")
    updated = EmailCampaign.objects.filter(pk=campaign.pk, status=current).update(
        status=status, **fields
    )
    if not updated:
        raise TransitionError("The campaign changed meanwhile; reload and try again.")
    campaign.status = status
    for name, value in fields.items():
        setattr(campaign, name, value)
    label = EmailCampaignStatus(status).label
    who = f" by {user.get_full_name() or user.username}" if user else ""
    system_event(subject=campaign, summary=f"Email campaign {label.lower()}{who}")
    return campaign


def email_campaign_schedule(*, campaign: EmailCampaign, at=None, user=None) -> EmailCampaign:
    """Schedule for ``at`` (now when omitted: "send now"). Needs at least two… or one variant."""
    if not campaign.variants.exists():
        raise TransitionError("Add at least one variant before scheduling.")
    return email_campaign_set_status(
        campaign=campaign,
        status=EmailCampaignStatus.SCHEDULED,
        user=user,
        scheduled_at=at or timezone.now(),
    )


def email_campaign_cancel(*, campaign: EmailCampaign, user=None) -> EmailCampaign:
    """Stop: recipients not yet queued are never sent."""
    return email_campaign_set_status(
        campaign=campaign, status=EmailCampaignStatus.CANCELLED, user=user
    )


# --- recipients -----------------------------------------------------------------------------


def bucket_for(campaign_id: int, contact_id: int) -> int:
    """0–999, the same for the same campaign and contact on every run and machine."""
    digest = hashlib.blake2b(f"{campaign_id}:{contact_id}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def variant_for_bucket(bucket: int, variant_ids: list[int], test_fraction) -> int | None:
    """The test share of buckets is split evenly over the variants; the rest wait for the
    winner (None). One variant: everyone gets it."""
    if len(variant_ids) == 1:
        return variant_ids[0]
    test_buckets = int(round(float(test_fraction) * BUCKETS))
    if bucket >= test_buckets:
        return None
    return variant_ids[bucket * len(variant_ids) // test_buckets]


def _skip_reason_expression():
    """Why a contact is not mailed, decided in the same SELECT as the segment's members."""
    suppressed = Suppression.objects.filter(email=OuterRef("email"))
    lead_unsubscribed = Lead.objects.filter(email=OuterRef("email"), unsubscribed_at__isnull=False)
    return Case(
        When(email="", then=Value(SkipReason.NO_ADDRESS)),
        When(
            Exists(suppressed.filter(reason=SuppressionReason.UNSUBSCRIBE))
            | Exists(lead_unsubscribed),
            then=Value(SkipReason.UNSUBSCRIBED),
        ),
        When(Exists(suppressed), then=Value(SkipReason.SUPPRESSED)),
        When(marketing_consent=False, then=Value(SkipReason.NO_CONSENT)),
        default=Value(SkipReason.NONE),
    )


def email_campaign_prepare(*, campaign: EmailCampaign) -> int:
    """Write the campaign's recipients from its segment, once; returns how many were written.

    One SELECT (the segment's members, each with its skip reason from subqueries) streamed into
    ``bulk_create`` in chunks. Consenting, reachable addresses are pending; the rest are kept as
    skipped with the reason, so the recipient table explains who got nothing and why.
    """
    with transaction.atomic():
        if not EmailCampaign.objects.filter(pk=campaign.pk, prepared_at__isnull=True).update(
            prepared_at=timezone.now()
        ):
            return 0
        variant_ids = list(campaign.variants.order_by("label").values_list("pk", flat=True))
        # With no winner to wait for, everyone is in the test.
        fraction = campaign.test_fraction if campaign.winner_after_hours is not None else 1
        members = (
            segment_queryset(campaign.segment, user=campaign.created_by)
            .order_by("pk")
            .annotate(skip=_skip_reason_expression())
            .values_list("pk", "email", "skip")
        )
        seen: set[str] = set()
        batch: list[CampaignRecipient] = []
        written = 0
        for contact_id, email, skip in members.iterator(chunk_size=CHUNK):
            email = (email or "").lower()
            if not skip and email in seen:
                skip = SkipReason.DUPLICATE
            if not skip:
                seen.add(email)
            bucket = bucket_for(campaign.pk, contact_id)
            batch.append(
                CampaignRecipient(
                    campaign_id=campaign.pk,
                    contact_id=contact_id,
                    email=email,
                    bucket=bucket,
                    variant_id=None if skip else variant_for_bucket(bucket, variant_ids, fraction),
                    status=RecipientStatus.SKIPPED if skip else RecipientStatus.PENDING,
                    skip_reason=skip,
                )
            )
            if len(batch) >= CHUNK:
                CampaignRecipient.objects.bulk_create(batch, ignore_conflicts=True)
                written += len(batch)
                batch = []
        if batch:
            CampaignRecipient.objects.bulk_create(batch, ignore_conflicts=True)
            written += len(batch)
    return written


# --- links ----------------------------------------------------------------------------------


def _site() -> str:
    return getattr(settings, "SITE_URL", "").rstrip("/")


def open_token(recipient_id: int) -> str:
    return signing.dumps({"r": recipient_id}, salt=OPEN_SALT)


def click_token(recipient_id: int, url: str) -> str:
    # The target travels inside the signed payload, so the redirect cannot be pointed elsewhere.
    return signing.dumps({"r": recipient_id, "u": url}, salt=CLICK_SALT, compress=True)


def read_token(token: str, *, salt: str) -> dict | None:
    try:
        data = signing.loads(token, salt=salt)
    except signing.BadSignature:
        return None
    return data if isinstance(data, dict) and isinstance(data.get("r"), int) else None


def contact_unsubscribe_token(contact_id: int) -> str:
    return signing.dumps({"contact": contact_id}, salt=UNSUBSCRIBE_SALT, compress=True)


def contact_unsubscribe_url(contact_id: int) -> str:
    return _site() + reverse(
        "leads:contact_unsubscribe", args=[contact_unsubscribe_token(contact_id)]
    )


def contact_for_token(token: str) -> Contact | None:
    try:
        data = signing.loads(token, salt=UNSUBSCRIBE_SALT)
    except signing.BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("contact"), int):
        return None
    return Contact.objects.filter(pk=data["contact"]).first()


_URL = re.compile(r"https?://[^\s\"'<>]+")


def _track_links(text: str, recipient_id: int, *, html: bool) -> str:
    def replace(match):
        url = unescape(match.group(0)) if html else match.group(0)
        tracked = _site() + reverse("leads:email_click", args=[click_token(recipient_id, url)])
        return escape(tracked) if html else tracked

    return _URL.sub(replace, text)


# --- sending --------------------------------------------------------------------------------


def contact_merge_values(contact: Contact) -> dict[str, str]:
    """The only values a template sees, like a lead's: plain strings."""
    owner = contact.owner
    return {
        "first_name": contact.first_name or "",
        "last_name": contact.last_name or "",
        "full_name": contact.full_name,
        "company": contact.account.name if contact.account_id else "",
        "title": contact.title or "",
        "owner_name": (owner.get_full_name() or owner.username) if owner else "",
    }


def _compose(*, campaign, variant, recipient) -> dict:
    values = contact_merge_values(recipient.contact)
    subject = template_render(variant.subject, values, autoescape=False).strip()
    text = _track_links(
        template_render(variant.body, values, autoescape=False), recipient.pk, html=False
    )
    html = _track_links(
        linebreaks(template_render(variant.body, values, autoescape=True), autoescape=False),
        recipient.pk,
        html=True,
    )
    link = contact_unsubscribe_url(recipient.contact_id)
    text += f"\n\n--\nNo more emails like this: {link}\n"
    html += f'<p style="font-size:small"><a href="{escape(link)}">Unsubscribe</a></p>'
    if campaign.track_opens:
        pixel = _site() + reverse("leads:email_open", args=[open_token(recipient.pk)])
        html += f'<img src="{escape(pixel)}" width="1" height="1" alt="">'
    return {"subject": subject or campaign.name, "body_text": text, "body_html": html}


def _skip_newly_excluded(campaign: EmailCampaign) -> int:
    """Addresses suppressed or unsubscribed since preparing are skipped before each run."""
    pending = CampaignRecipient.objects.filter(campaign=campaign, status=RecipientStatus.PENDING)
    unsubscribed = pending.filter(
        Q(
            Exists(
                Suppression.objects.filter(
                    email=OuterRef("email"), reason=SuppressionReason.UNSUBSCRIBE
                )
            )
        )
        | Q(Exists(Lead.objects.filter(email=OuterRef("email"), unsubscribed_at__isnull=False)))
        | Q(contact__marketing_consent=False)
    )
    count = unsubscribed.update(status=RecipientStatus.SKIPPED, skip_reason=SkipReason.UNSUBSCRIBED)
    count += pending.filter(Exists(Suppression.objects.filter(email=OuterRef("email")))).update(
        status=RecipientStatus.SKIPPED, skip_reason=SkipReason.SUPPRESSED
    )
    return count


def _claim(campaign: EmailCampaign, limit: int, now) -> list[int]:
    """Move up to ``limit`` sendable recipients pending → queued; the ids this run owns."""
    sendable = CampaignRecipient.objects.filter(
        campaign=campaign, status=RecipientStatus.PENDING, variant__isnull=False
    ).order_by("id")
    claim = {"status": RecipientStatus.QUEUED, "queued_at": now}
    if connection.features.has_select_for_update_skip_locked:
        ids = list(
            sendable.select_for_update(skip_locked=True).values_list("id", flat=True)[:limit]
        )
        if ids:
            CampaignRecipient.objects.filter(pk__in=ids).update(**claim)
        return ids
    ids = []
    for pk in sendable.values_list("id", flat=True)[:limit]:
        if CampaignRecipient.objects.filter(pk=pk, status=RecipientStatus.PENDING).update(**claim):
            ids.append(pk)
    return ids


def email_campaign_send_batch(*, campaign_id: int, now=None) -> int:
    """One run for one campaign: queue at most ``rate_per_minute`` emails; returns how many."""
    now = now or timezone.now()
    campaign = (
        EmailCampaign.objects.select_related("segment", "created_by").filter(pk=campaign_id).first()
    )
    if campaign is None or campaign.status not in (
        EmailCampaignStatus.SCHEDULED,
        EmailCampaignStatus.SENDING,
    ):
        return 0
    if campaign.scheduled_at is None or campaign.scheduled_at > now:
        return 0
    if campaign.status == EmailCampaignStatus.SCHEDULED:
        try:
            email_campaign_set_status(
                campaign=campaign, status=EmailCampaignStatus.SENDING, started_at=now
            )
        except TransitionError:
            return 0
    email_campaign_prepare(campaign=campaign)
    _skip_newly_excluded(campaign)
    variants = {v.pk: v for v in EmailVariant.objects.filter(campaign=campaign)}
    for variant in variants.values():
        try:
            template_render(variant.subject, {}, autoescape=False)
            template_render(variant.body, {}, autoescape=False)
        except TemplateSyntaxError:
            logger.exception(
                "Email campaign %s: variant %s does not render", campaign.pk, variant.label
            )
            return 0
    queued = 0
    done: list[CampaignRecipient] = []
    with transaction.atomic():
        ids = _claim(campaign, campaign.rate_per_minute, now)
        recipients = CampaignRecipient.objects.filter(pk__in=ids).select_related(
            "contact", "contact__account", "contact__owner"
        )
        for recipient in recipients.iterator(chunk_size=2000):
            message = _compose(
                campaign=campaign, variant=variants[recipient.variant_id], recipient=recipient
            )
            email = email_queue(
                to_email=recipient.email,
                related=recipient.contact,
                idempotency_key=f"camp:{campaign.pk}:{recipient.contact_id}",
                **message,
            )
            recipient.outbound_email = email
            done.append(recipient)
            queued += 1
        CampaignRecipient.objects.bulk_update(done, ["outbound_email"], batch_size=1000)
    _mark_delivered(campaign)
    _finish_if_done(campaign)
    return queued


def _mark_delivered(campaign: EmailCampaign) -> int:
    return CampaignRecipient.objects.filter(
        campaign=campaign,
        status=RecipientStatus.QUEUED,
        outbound_email__status=OutboxStatus.SENT,
    ).update(status=RecipientStatus.SENT)


def _finish_if_done(campaign: EmailCampaign) -> None:
    if campaign.status != EmailCampaignStatus.SENDING:
        return
    if CampaignRecipient.objects.filter(campaign=campaign, status=RecipientStatus.PENDING).exists():
        return
    with contextlib.suppress(TransitionError):
        email_campaign_set_status(campaign=campaign, status=EmailCampaignStatus.SENT)


def email_campaigns_send_due(*, now=None) -> dict[int, int]:
    """Beat, every minute: for each due campaign, queue up to its rate; then mark delivered."""
    now = now or timezone.now()
    due = EmailCampaign.objects.filter(
        status__in=[EmailCampaignStatus.SCHEDULED, EmailCampaignStatus.SENDING],
        scheduled_at__lte=now,
    ).values_list("pk", flat=True)
    result = {}
    for campaign_id in list(due):
        try:
            result[campaign_id] = email_campaign_send_batch(campaign_id=campaign_id, now=now)
        except Exception:
            logger.exception("Email campaign %s: the send run failed", campaign_id)
    # Campaigns already finished still learn which of their emails were delivered.
    for campaign in EmailCampaign.objects.filter(
        status=EmailCampaignStatus.SENT,
        recipients__status=RecipientStatus.QUEUED,
    ).distinct()[:50]:
        _mark_delivered(campaign)
    return result


# --- tracking -------------------------------------------------------------------------------


def recipient_opened(*, recipient_id: int, now=None) -> bool:
    """Record the first open; later opens change nothing. True when this one was the first."""
    now = now or timezone.now()
    with transaction.atomic():
        updated = CampaignRecipient.objects.filter(pk=recipient_id, opened_at__isnull=True).update(
            opened_at=now
        )
        if updated:
            recipient = CampaignRecipient.objects.select_related("contact", "campaign").get(
                pk=recipient_id
            )
            system_event(
                subject=recipient.contact, summary=f"Opened the email “{recipient.campaign}”"
            )
    return bool(updated)


def recipient_clicked(*, recipient_id: int, url: str, now=None) -> bool:
    """Record the first click (a click also proves an open)."""
    now = now or timezone.now()
    with transaction.atomic():
        updated = CampaignRecipient.objects.filter(pk=recipient_id, clicked_at__isnull=True).update(
            clicked_at=now, opened_at=Coalesce(F("opened_at"), Value(now))
        )
        if updated:
            recipient = CampaignRecipient.objects.select_related("contact", "campaign").get(
                pk=recipient_id
            )
            system_event(
                subject=recipient.contact,
                summary=f"Clicked a link in the email “{recipient.campaign}”",
                body=url,
            )
    return bool(updated)


@transaction.atomic
def contact_unsubscribe(*, contact: Contact) -> bool:
    """One click: the address is suppressed, consent withdrawn, and a lead with the same
    address is unsubscribed too (its sequences stop). Idempotent."""
    changed = Contact.objects.filter(pk=contact.pk, marketing_consent=True).update(
        marketing_consent=False, marketing_consent_at=None
    )
    if contact.email:
        created = Suppression.objects.bulk_create(
            [Suppression(email=contact.email.lower(), reason=SuppressionReason.UNSUBSCRIBE)],
            ignore_conflicts=True,
        )
        changed = changed or bool(created and created[0].pk)
        for lead in Lead.objects.filter(email=contact.email.lower(), unsubscribed_at__isnull=True):
            lead_unsubscribe(lead=lead)
    if changed:
        system_event(subject=contact, summary="Unsubscribed from marketing email")
    return bool(changed)


def suppressions_add(*, events: list[dict]) -> int:
    """Bounce and complaint events (already validated) become suppressions; returns how many
    addresses are newly suppressed. A second event for the same address changes nothing."""
    emails = {e["email"].strip().lower(): e["type"] for e in events}
    existing = set(Suppression.objects.filter(email__in=emails).values_list("email", flat=True))
    new = [Suppression(email=e, reason=t) for e, t in emails.items() if e not in existing]
    Suppression.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


# --- A/B winner -----------------------------------------------------------------------------


def email_campaign_pick_winner(*, campaign_id: int, now=None) -> bool:
    """Once the test has run ``winner_after_hours``, pick the best variant (one conditional
    UPDATE, so only one run ever picks) and give it to every recipient still waiting."""
    from leads.email_campaign_selectors import best_variant_id, variant_results

    now = now or timezone.now()
    campaign = EmailCampaign.objects.filter(pk=campaign_id).first()
    if (
        campaign is None
        or campaign.status != EmailCampaignStatus.SENDING
        or campaign.winner_after_hours is None
        or campaign.winner_variant_id is not None
        or campaign.started_at is None
        or campaign.started_at + timedelta(hours=campaign.winner_after_hours) > now
    ):
        return False
    winner = best_variant_id(variant_results(campaign))
    if winner is None:
        return False
    with transaction.atomic():
        if not EmailCampaign.objects.filter(pk=campaign.pk, winner_variant__isnull=True).update(
            winner_variant_id=winner, winner_picked_at=now
        ):
            return False
        CampaignRecipient.objects.filter(
            campaign=campaign, status=RecipientStatus.PENDING, variant__isnull=True
        ).update(variant_id=winner)
        label = EmailVariant.objects.get(pk=winner).label
        system_event(subject=campaign, summary=f"Variant {label} won; the rest get it")
    return True


def email_campaigns_pick_winners(*, now=None) -> int:
    """Beat: pick the winner of every test whose time is up."""
    now = now or timezone.now()
    ids = EmailCampaign.objects.filter(
        status=EmailCampaignStatus.SENDING,
        winner_after_hours__isnull=False,
        winner_variant__isnull=True,
    ).values_list("pk", flat=True)
    return sum(email_campaign_pick_winner(campaign_id=pk, now=now) for pk in list(ids))
