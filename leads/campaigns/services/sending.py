"""Email campaigns: choose recipients from a segment, send at a per-minute rate through the
outbox, track opens and clicks with signed links, honour bounces and unsubscribes, and pick the
A/B winner once.

Every step is safe to rerun: recipients are prepared once (a conditional UPDATE of
``prepared_at`` in the same transaction as the insert), each send moves its recipients
pending → queued in the transaction that queues their emails (chunk by chunk, set-based: one
bulk outbox insert and one UPDATE per chunk), and the outbox key ``camp:<campaign>:<contact>``
makes a second queue of the same email a no-op.
"""

import contextlib
import hashlib
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core import signing
from django.core.cache import cache
from django.db import transaction
from django.db.models import Case, CharField, Exists, F, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Cast, Coalesce, Concat
from django.template import TemplateSyntaxError
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape, linebreaks

from crm import webhooks
from crm.choices import OutboxStatus
from crm.db import insert_rows
from crm.models import ConsentChannel, Contact, OutboundEmail
from crm.personal_data import EmailHash
from crm.segments.selectors import segment_queryset
from crm.services.consents import ConsentProof, consent_record
from crm.services.customers import consent_stamp
from crm.services.outbox import OutboxMessage, email_queue_many
from crm.services.timeline import system_event
from leads.campaigns.selectors import best_variant_id, variant_results
from leads.choices import (
    EmailCampaignStatus,
    RecipientStatus,
    SkipReason,
    SuppressionReason,
)
from leads.models import CampaignRecipient, EmailCampaign, EmailVariant, Lead, Suppression
from leads.services.sequences import (
    UNSUBSCRIBE_SALT,
    lead_unsubscribe,
    links_tracked,
    template_compile,
    template_render_compiled,
    tracking_token_read,
)

logger = logging.getLogger(__name__)

OPEN_SALT = "leads.email_campaign.open"
CLICK_SALT = "leads.email_campaign.click"
CHUNK = 5000
#: Recipients per send transaction: big enough for set-based writes, small enough that memory
#: stays flat and a crash redoes little.
SEND_CHUNK = 2000
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
    # An erased person's address is kept only as its SHA-256 (crm.personal_data.EmailHash).
    erased = Suppression.objects.filter(email_hash=EmailHash(OuterRef("email")))
    lead_unsubscribed = Lead.objects.filter(email=OuterRef("email"), unsubscribed_at__isnull=False)
    return Case(
        When(email="", then=Value(SkipReason.NO_ADDRESS)),
        When(
            Exists(suppressed.filter(reason=SuppressionReason.UNSUBSCRIBE))
            | Exists(lead_unsubscribed),
            then=Value(SkipReason.UNSUBSCRIBED),
        ),
        When(Exists(suppressed) | Exists(erased), then=Value(SkipReason.SUPPRESSED)),
        When(marketing_consent=False, then=Value(SkipReason.NO_CONSENT)),
        default=Value(SkipReason.NONE),
    )


RECIPIENT_COLUMNS = ["campaign", "contact", "email", "bucket", "variant", "status", "skip_reason"]


def email_campaign_prepare(*, campaign: EmailCampaign) -> int:
    """Write the campaign's recipients from its segment, once; returns how many were written.

    One SELECT (the segment's members, each with its skip reason from subqueries) streamed into
    one multi-row INSERT per chunk. Consenting, reachable addresses are pending; the rest are
    kept as skipped with the reason, so the recipient table explains who got nothing and why.
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
        batch: list[tuple] = []
        written = 0
        for contact_id, email, skip in members.iterator(chunk_size=CHUNK):
            email = (email or "").lower()
            if not skip and email in seen:
                skip = SkipReason.DUPLICATE
            if not skip:
                seen.add(email)
            bucket = bucket_for(campaign.pk, contact_id)
            batch.append(
                (
                    campaign.pk,
                    contact_id,
                    email,
                    bucket,
                    None if skip else variant_for_bucket(bucket, variant_ids, fraction),
                    RecipientStatus.SKIPPED if skip else RecipientStatus.PENDING,
                    skip,
                )
            )
            if len(batch) >= CHUNK:
                written += insert_rows(CampaignRecipient, RECIPIENT_COLUMNS, batch)
                batch = []
        written += insert_rows(CampaignRecipient, RECIPIENT_COLUMNS, batch)
    return written


# --- links ----------------------------------------------------------------------------------


def _site() -> str:
    return getattr(settings, "SITE_URL", "").rstrip("/")


def _signer(salt: str) -> signing.TimestampSigner:
    """What ``signing.dumps`` builds on every call; a send run builds each once."""
    return signing.TimestampSigner(salt=salt)


def open_token(recipient_id: int, signer=None) -> str:
    return (signer or _signer(OPEN_SALT)).sign_object({"r": recipient_id})


def click_token(recipient_id: int, url: str, signer=None) -> str:
    # The target travels inside the signed payload, so the redirect cannot be pointed elsewhere.
    return (signer or _signer(CLICK_SALT)).sign_object({"r": recipient_id, "u": url}, compress=True)


def read_token(token: str, *, salt: str) -> dict | None:
    return tracking_token_read(token, salt=salt, id_key="r")


def contact_unsubscribe_token(contact_id: int, signer=None) -> str:
    return (signer or _signer(UNSUBSCRIBE_SALT)).sign_object({"contact": contact_id}, compress=True)


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


def _token_url(name: str):
    """A function token → absolute URL of the route ``name``, reversed once: signed tokens
    are URL-safe, so the path around them never changes."""
    marker = "TOKEN"
    head, tail = reverse(name, args=[marker]).rsplit(marker, 1)
    head = _site() + head
    return lambda token: f"{head}{token}{tail}"


# --- sending --------------------------------------------------------------------------------


def merge_values(
    *, first_name, last_name, title, company, owner_first, owner_last, owner_username
) -> dict[str, str]:
    """The only values a template sees, like a lead's: plain strings."""
    owner_name = f"{owner_first or ''} {owner_last or ''}".strip() or (owner_username or "")
    return {
        "first_name": first_name or "",
        "last_name": last_name or "",
        "full_name": f"{first_name or ''} {last_name or ''}".strip(),
        "company": company or "",
        "title": title or "",
        "owner_name": owner_name,
    }


def contact_merge_values(contact: Contact) -> dict[str, str]:
    owner = contact.owner
    return merge_values(
        first_name=contact.first_name,
        last_name=contact.last_name,
        title=contact.title,
        company=contact.account.name if contact.account_id else "",
        owner_first=owner.first_name if owner else "",
        owner_last=owner.last_name if owner else "",
        owner_username=owner.username if owner else "",
    )


#: What a send run reads per recipient: its row and its contact's merge values, in one query.
RECIPIENT_FIELDS = (
    "pk",
    "contact_id",
    "email",
    "variant_id",
    "contact__first_name",
    "contact__last_name",
    "contact__title",
    "contact__account__name",
    "contact__owner__first_name",
    "contact__owner__last_name",
    "contact__owner__username",
)


class CampaignComposer:
    """Builds a campaign's emails for one run: each variant's templates are compiled once and
    the tracking URLs reversed once, so a recipient costs three renders and a few signatures.
    Raises ``TemplateSyntaxError`` when a variant does not compile."""

    def __init__(self, campaign: EmailCampaign, variants):
        self.campaign = campaign
        self.templates = {
            v.pk: (template_compile(v.subject), template_compile(v.body)) for v in variants
        }
        self.contact_type_id = ContentType.objects.get_for_model(Contact).pk
        self.click_url = _token_url("leads:email_click")
        self.open_url = _token_url("leads:email_open")
        self.unsubscribe_url = _token_url("leads:contact_unsubscribe")
        self.click_signer = _signer(CLICK_SALT)
        self.open_signer = _signer(OPEN_SALT)
        self.unsubscribe_signer = _signer(UNSUBSCRIBE_SALT)

    def message(self, row) -> OutboxMessage:
        recipient_id, contact_id, email, variant_id, *merge = row
        first, last, title, company, owner_first, owner_last, owner_username = merge
        values = merge_values(
            first_name=first,
            last_name=last,
            title=title,
            company=company,
            owner_first=owner_first,
            owner_last=owner_last,
            owner_username=owner_username,
        )
        subject_template, body_template = self.templates[variant_id]
        tokens: dict[str, str] = {}

        def tracked(url: str) -> str:
            if url not in tokens:
                tokens[url] = self.click_url(click_token(recipient_id, url, self.click_signer))
            return tokens[url]

        subject = template_render_compiled(subject_template, values, autoescape=False).strip()
        text = links_tracked(
            template_render_compiled(body_template, values, autoescape=False), tracked, html=False
        )
        html = links_tracked(
            linebreaks(
                template_render_compiled(body_template, values, autoescape=True), autoescape=False
            ),
            tracked,
            html=True,
        )
        link = self.unsubscribe_url(contact_unsubscribe_token(contact_id, self.unsubscribe_signer))
        text += f"\n\n--\nNo more emails like this: {link}\n"
        html += f'<p style="font-size:small"><a href="{escape(link)}">Unsubscribe</a></p>'
        if self.campaign.track_opens:
            pixel = self.open_url(open_token(recipient_id, self.open_signer))
            html += f'<img src="{escape(pixel)}" width="1" height="1" alt="">'
        return OutboxMessage(
            to_email=email,
            subject=subject or self.campaign.name,
            body_text=text,
            body_html=html,
            idempotency_key=outbox_key(self.campaign.pk, contact_id),
            content_type_id=self.contact_type_id,
            object_id=contact_id,
        )


def outbox_key_prefix(campaign_id: int) -> str:
    return f"camp:{campaign_id}:"


def outbox_key(campaign_id: int, contact_id: int) -> str:
    """The outbox idempotency key of a campaign's email to a contact: one email, ever."""
    return f"{outbox_key_prefix(campaign_id)}{contact_id}"


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
    count += pending.filter(
        Exists(Suppression.objects.filter(email=OuterRef("email")))
        | Exists(Suppression.objects.filter(email_hash=EmailHash(OuterRef("email"))))
    ).update(status=RecipientStatus.SKIPPED, skip_reason=SkipReason.SUPPRESSED)
    return count


def _claim(campaign: EmailCampaign, limit: int, now) -> list[tuple]:
    """Take up to ``limit`` sendable recipients for this run, read with their merge values
    (``RECIPIENT_FIELDS``); ``_mark_queued`` moves them pending → queued in the same
    transaction. One SELECT locks the recipient rows (SKIP LOCKED), so concurrent runs take
    disjoint rows."""
    sendable = CampaignRecipient.objects.filter(
        campaign=campaign, status=RecipientStatus.PENDING, variant__isnull=False
    ).order_by("id")
    return list(
        sendable.select_for_update(skip_locked=True, of=("self",)).values_list(*RECIPIENT_FIELDS)[
            :limit
        ]
    )


#: ``rate_per_minute`` holds in every window of this length: a run queues only what the
#: emails queued in the window before it left of the rate.
RATE_WINDOW = timedelta(minutes=1)


def _queued_since(campaign: EmailCampaign, moment) -> int:
    return CampaignRecipient.objects.filter(campaign=campaign, queued_at__gt=moment).count()


def email_campaign_send_batch(*, campaign_id: int, now=None) -> int:
    """One run for one campaign: queue at most what ``rate_per_minute`` leaves after the emails
    queued in the last minute (``RATE_WINDOW``); returns how many.

    Chunk by chunk, one transaction each: claim up to ``SEND_CHUNK`` pending recipients and
    read them with their merge values (one query on PostgreSQL), render, write their emails to
    the outbox in one bulk insert, then move them pending → queued with their email in one
    UPDATE. A crash loses at most the chunk in flight, whose recipients stay pending; a chunk
    that committed is never claimed again, and its outbox keys would make a second insert a
    no-op anyway.
    """
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
    try:
        composer = CampaignComposer(campaign, EmailVariant.objects.filter(campaign=campaign))
    except TemplateSyntaxError:
        logger.exception("Email campaign %s: a variant does not compile", campaign.pk)
        return 0
    queued = 0
    with _one_run_at_a_time(campaign) as alone:
        # A second run while one is still queuing would add its own rate within the minute, and
        # a run soon after another (a retry, a backlog of beat ticks after an outage) may only
        # fill what the last minute left of the rate.
        budget = (
            campaign.rate_per_minute - _queued_since(campaign, now - RATE_WINDOW) if alone else 0
        )
        while queued < budget:
            with transaction.atomic():
                rows = _claim(campaign, min(SEND_CHUNK, budget - queued), now)
                if not rows:
                    break
                email_queue_many(messages=[composer.message(row) for row in rows])
                _mark_queued(campaign, [row[0] for row in rows], now)
            queued += len(rows)
    _mark_delivered(campaign)
    _finish_if_done(campaign)
    return queued


#: How long a send run's claim on its campaign lasts unless released: the run task's time limit
#: (``leads.tasks.email_campaigns_run``), after which its worker is gone anyway.
RUN_LOCK_SECONDS = 60


def run_lock_key(campaign_id: int) -> str:
    return f"email-campaign-run:{campaign_id}"


@contextlib.contextmanager
def _one_run_at_a_time(campaign: EmailCampaign):
    """Yields True when no other run is queuing this campaign's emails: a claim in the shared
    cache (one atomic add), released at the end, or ``RUN_LOCK_SECONDS`` after its worker died.
    Not a session advisory lock: behind a transaction-mode pooler (PgBouncer) its unlock could
    reach another server connection and leave the lock held (README, "Connection pooling")."""
    key, token = run_lock_key(campaign.pk), secrets.token_hex(8)
    try:
        acquired = cache.add(key, token, timeout=RUN_LOCK_SECONDS)
    except Exception:
        logger.warning("Email campaign %s: the run lock is unavailable", campaign.pk, exc_info=True)
        acquired = False
    try:
        yield acquired
    finally:
        if acquired:
            try:
                if cache.get(key) == token:
                    cache.delete(key)
            except Exception:
                logger.warning("Email campaign %s: the run lock lapses by itself", campaign.pk)


def _mark_queued(campaign: EmailCampaign, ids: list[int], now) -> int:
    """One UPDATE: the claimed recipients are queued and point at their outbox rows (found by
    key through its unique index)."""
    key = Concat(
        Value(outbox_key_prefix(campaign.pk)),
        Cast(OuterRef("contact_id"), output_field=CharField()),
        output_field=CharField(),
    )
    return CampaignRecipient.objects.filter(pk__in=ids).update(
        status=RecipientStatus.QUEUED,
        queued_at=now,
        outbound_email_id=Subquery(
            OutboundEmail.objects.filter(idempotency_key=key).order_by().values("pk")[:1]
        ),
    )


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
    """Beat, every 15 seconds: for each due campaign, queue what its rate allows; then mark
    delivered."""
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
def contact_unsubscribe(*, contact: Contact, ip: str | None = None) -> bool:
    """One click: the address is suppressed, consent withdrawn, and a lead with the same
    address is unsubscribed too (its sequences stop). Idempotent. The withdrawal leaves proof
    (the unsubscribe link, from ``ip``)."""
    changed = Contact.objects.filter(pk=contact.pk, marketing_consent=True).update(
        **consent_stamp("marketing_consent", False)
    )
    if changed:
        consent_record(
            record=contact,
            consent="marketing_consent",
            given=False,
            proof=ConsentProof(channel=ConsentChannel.UNSUBSCRIBE, ip=ip),
        )
    if contact.email:
        created = Suppression.objects.bulk_create(
            [Suppression(email=contact.email.lower(), reason=SuppressionReason.UNSUBSCRIBE)],
            ignore_conflicts=True,
        )
        changed = changed or bool(created and created[0].pk)
        for lead in Lead.objects.filter(email=contact.email.lower(), unsubscribed_at__isnull=True):
            lead_unsubscribe(lead=lead, ip=ip)
    if changed:
        system_event(subject=contact, summary="Unsubscribed from marketing email")
        contact.refresh_from_db()
        webhooks.emit("contact.unsubscribed", contact)
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
    """Once the test has run ``winner_after_hours``, decide it (one conditional UPDATE, so only
    one run ever decides): the best variant wins and goes to every recipient still waiting. A
    test without a best (a tie, or nothing delivered) has no winner; the rest get the first
    variant, the default, as HubSpot does with an inconclusive test, rather than waiting on a
    tie that may never break. ``winner_picked_at`` says when it was decided either way."""

    now = now or timezone.now()
    campaign = EmailCampaign.objects.filter(pk=campaign_id).first()
    if (
        campaign is None
        or campaign.status != EmailCampaignStatus.SENDING
        or campaign.winner_after_hours is None
        or campaign.winner_picked_at is not None
        or campaign.started_at is None
        or campaign.started_at + timedelta(hours=campaign.winner_after_hours) > now
    ):
        return False
    winner = best_variant_id(variant_results(campaign))
    rest = winner or campaign.variants.order_by("label").values_list("pk", flat=True).first()
    if rest is None:
        return False
    with transaction.atomic():
        if not EmailCampaign.objects.filter(pk=campaign.pk, winner_picked_at__isnull=True).update(
            winner_variant_id=winner, winner_picked_at=now
        ):
            return False
        CampaignRecipient.objects.filter(
            campaign=campaign, status=RecipientStatus.PENDING, variant__isnull=True
        ).update(variant_id=rest)
        label = EmailVariant.objects.get(pk=rest).label
        summary = (
            f"Variant {label} won; the rest get it"
            if winner
            else f"No variant won (a tie); the rest get variant {label}, the default"
        )
        system_event(subject=campaign, summary=summary)
    return True


def email_campaigns_pick_winners(*, now=None) -> int:
    """Beat: pick the winner of every test whose time is up."""
    now = now or timezone.now()
    ids = EmailCampaign.objects.filter(
        status=EmailCampaignStatus.SENDING,
        winner_after_hours__isnull=False,
        winner_picked_at__isnull=True,
    ).values_list("pk", flat=True)
    return sum(email_campaign_pick_winner(campaign_id=pk, now=now) for pk in list(ids))
