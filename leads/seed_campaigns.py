"""Demo data of email campaigns and campaign ROI, after every stage's step has written its rows
(it needs the demo contacts, segments, the converted leads and the sales stage's won deals).

- A finished A/B campaign (variant B clearly better on clicks), a finished one-variant newsletter
  and a draft to a demo contact segment, with recipients as the send engine leaves them: sent
  (with their outbox rows, already sent: the demo never emails anyone), skipped with the reason,
  a few bounced or unsubscribed since; first opens and clicks.
- Replies are logged as email activities on the contacts' timelines; then the real services mark
  replies and conversions (``email_campaign_outcomes_record``) and credit won deals to campaigns
  (``campaign_credits_refresh``), so every number on the pages is computed, not written here.

Bulk writes only; recipients are capped per campaign so large scales stay fast.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from leads.choices import EmailCampaignStatus, RecipientStatus, SkipReason

# Recipients of one campaign at most: above it the audience segment keeps the first reps' books.
MAX_RECIPIENTS = 20_000
UPDATE_CHUNK = 1000
MARKETS = ["DE", "AT", "CH", "GB", "IE", "FR", "NL", "ES", "IT", "SE", "US", "CA"]
AUDIENCE = "Newsletter audience: Europe and North America"
DACH = ["DE", "AT", "CH"]
AUDIENCE_SMALL = "Newsletter audience: DACH"

AB_TEST = {
    "name": "Spring webinar invitation (A/B)",
    "campaign": "spring-webinar",
    "days_ago": 60,
    # label, subject, body, open rate, click rate
    "variants": [
        (
            "A",
            "Webinar: reporting without spreadsheets",
            "Hi {{ first_name }},\njoin our live webinar on automated reporting for "
            "{{ company }}.\nRegister: https://example.com/webinar\n{{ owner_name }}",
            0.34,
            0.03,
        ),
        (
            "B",
            "{{ first_name }}, save a seat: 30 minutes, one live demo",
            "Hi {{ first_name }},\nin 30 minutes we show how {{ company }} could close the "
            "month in a day.\nSave your seat: https://example.com/webinar\n{{ owner_name }}",
            0.48,
            0.18,
        ),
    ],
}
NEWSLETTER = {
    "name": "Product newsletter (autumn)",
    "campaign": "newsletter",
    "days_ago": 21,
    "variants": [
        (
            "A",
            "What's new this autumn",
            "Hi {{ first_name }},\nthree new things in the product this season.\n"
            "Read more: https://example.com/news",
            0.38,
            0.07,
        ),
    ],
}
DRAFT = {
    "name": "Year-end offer",
    "campaign": "newsletter",
    "variants": [
        (
            "A",
            "A year-end offer for {{ company }}",
            "Hi {{ first_name }},\nuntil the end of the year…",
        ),
        (
            "B",
            "{{ first_name }}, 20% off until December 31",
            "Hi {{ first_name }},\nfor the rest of the year…",
        ),
    ],
}
BOUNCE_RATE = 0.02
UNSUBSCRIBE_AFTER_RATE = 0.01
UNSUBSCRIBED_BEFORE_RATE = 0.04
REPLY_RATE_ENGAGED = 0.25
REPLY_RATE_OTHERS = 0.01


def seed(ctx):
    email_campaigns_seed(ctx)


# --- email campaigns ------------------------------------------------------------------------


def email_campaigns_seed(ctx):
    from crm.models import Segment
    from leads.campaigns.services.attribution import campaign_credits_refresh
    from leads.campaigns.services.outcomes import email_campaign_outcomes_record
    from leads.models import Campaign, EmailCampaign, EmailVariant

    manager = ctx.users["manager"]
    marketing = {
        c.slug: c for c in Campaign.objects.filter(slug__in=["spring-webinar", "newsletter"])
    }
    if len(marketing) < 2:
        ctx.progress("no demo marketing campaigns; no email campaigns")
        return
    segment = _audience(ctx, Segment, manager)
    now = ctx.now
    sent = []
    for spec in (AB_TEST, NEWSLETTER):
        started = now - dt.timedelta(days=spec["days_ago"], hours=-10)
        campaign = EmailCampaign.objects.create(
            name=spec["name"],
            campaign=marketing[spec["campaign"]],
            segment=segment,
            status=EmailCampaignStatus.SENT,
            scheduled_at=started,
            prepared_at=started,
            started_at=started,
            rate_per_minute=500,
            created_by=manager,
        )
        EmailCampaign.objects.filter(pk=campaign.pk).update(
            created_at=started - dt.timedelta(days=3)
        )
        variants = EmailVariant.objects.bulk_create(
            [
                EmailVariant(campaign=campaign, label=label, subject=subject, body=body)
                for label, subject, body, _, _ in spec["variants"]
            ]
        )
        rates = {
            v.pk: (spec["variants"][i][3], spec["variants"][i][4]) for i, v in enumerate(variants)
        }
        _recipients(ctx, campaign, segment, manager, variants, rates, started)
        sent.append(campaign)
    draft = EmailCampaign.objects.create(
        name=DRAFT["name"],
        campaign=marketing[DRAFT["campaign"]],
        segment=segment,
        status=EmailCampaignStatus.DRAFT,
        test_fraction=Decimal("0.200"),
        winner_after_hours=4,
        created_by=manager,
    )
    EmailVariant.objects.bulk_create(
        [
            EmailVariant(campaign=draft, label=label, subject=subject, body=body)
            for label, subject, body in DRAFT["variants"]
        ]
    )
    for campaign in sent:
        outcome = email_campaign_outcomes_record(campaign_id=campaign.pk)
        ctx.progress(
            f"{campaign.name}: {outcome['replied']} replied, {outcome['converted']} converted"
        )
    credits = campaign_credits_refresh(now=now)
    ctx.progress(f"campaign credits: {credits:,}")


def _audience(ctx, Segment, manager):
    """The demo campaigns' segment: contacts of accounts in Europe and North America (those
    without marketing consent too, so the recipient list shows who was skipped and why); at large
    scales only the first reps' books, then only DACH, so a campaign stays near
    ``MAX_RECIPIENTS``."""
    from crm.segments.definition import definition_clean
    from crm.segments.selectors import segment_queryset
    from crm.segments.services import segment_snapshot_take

    def make(name, countries, owners=()):
        children = [{"criterion": "account_country", "operator": "in", "value": countries}]
        if owners:
            children.append(
                {"criterion": "owner", "operator": "in", "value": [str(u.pk) for u in owners]}
            )
            name = f"{name} ({', '.join(u.username for u in owners)})"
        definition = definition_clean("contact", {"op": "and", "children": children})
        return Segment(
            name=name, target="contact", shared=True, owner=manager, definition=definition
        )

    segment = make(AUDIENCE, MARKETS)
    size = segment_queryset(segment, user=manager).count()
    reps = ctx.reps
    if size > MAX_RECIPIENTS and reps:
        keep = reps[: max(1, len(reps) * MAX_RECIPIENTS // size)]
        segment = make(AUDIENCE, MARKETS, keep)
        if segment_queryset(segment, user=manager).count() > MAX_RECIPIENTS:
            segment = make(AUDIENCE_SMALL, DACH, keep)
    (segment,) = ctx.bulk_create(Segment, [segment])
    segment = Segment.objects.get(pk=segment.pk)
    segment_snapshot_take(segment=segment, date=ctx.today)
    return segment


def _recipients(ctx, campaign, segment, manager, variants, rates, started):
    """The recipients of a finished send, as the engine leaves them; returns nothing."""
    from django.contrib.contenttypes.models import ContentType

    from crm.choices import ActivityKind, OutboxStatus
    from crm.models import Activity, Contact, OutboundEmail
    from crm.segments.selectors import segment_queryset
    from leads.campaigns.services.sending import bucket_for, variant_for_bucket
    from leads.choices import SuppressionReason
    from leads.models import CampaignRecipient, Lead, Suppression

    rng, now = ctx.rng, ctx.now
    contact_ct = ContentType.objects.get_for_model(Contact).pk
    members = list(
        segment_queryset(segment, user=manager)
        .filter(created_at__lt=started)
        .order_by("pk")
        .values_list(
            "pk",
            "email",
            "marketing_consent",
            "first_name",
            "account__name",
            "owner__first_name",
            "owner__last_name",
            "owner_id",
        )
    )
    suppressed = dict(Suppression.objects.values_list("email", "reason"))
    lead_unsubscribed = set(
        Lead.objects.filter(unsubscribed_at__isnull=False).values_list("email", flat=True)
    )
    # Some consenting people unsubscribed before this send (withdrawn consent).
    withdrawn = []
    for contact_id, email, consent, *_ in members:
        eligible = consent and email and email.lower() not in suppressed
        if eligible and rng.random() < UNSUBSCRIBED_BEFORE_RATE:
            withdrawn.append((contact_id, email.lower()))
    _unsubscribe(
        ctx,
        withdrawn,
        [started - dt.timedelta(days=rng.randint(1, 60)) for _ in withdrawn],
    )
    suppressed.update((email, SuppressionReason.UNSUBSCRIBE) for _, email in withdrawn)
    withdrawn_ids = {c for c, _ in withdrawn}

    variant_ids = [v.pk for v in variants]
    subjects = {v.pk: v.subject for v in variants}
    bodies = {v.pk: v.body for v in variants}
    recipient_ids = ctx.reserve_ids(CampaignRecipient, len(members))
    n_sent = 0
    rows, outbox, replies, bounced, unsubscribed = [], [], [], [], []
    seen: set[str] = set()
    sendable = []
    for contact_id, email, consent, *_ in members:
        email = (email or "").lower()
        skip = SkipReason.NONE
        if not email:
            skip = SkipReason.NO_ADDRESS
        elif suppressed.get(email) == SuppressionReason.UNSUBSCRIBE or email in lead_unsubscribed:
            skip = SkipReason.UNSUBSCRIBED
        elif email in suppressed:
            skip = SkipReason.SUPPRESSED
        elif not consent or contact_id in withdrawn_ids:
            skip = SkipReason.NO_CONSENT
        elif email in seen:
            skip = SkipReason.DUPLICATE
        if not skip:
            seen.add(email)
            n_sent += 1
        sendable.append(skip)
    engaged_rate = min(click for _, click in rates.values())
    outbox_ids = iter(ctx.reserve_ids(OutboundEmail, n_sent))
    # Sends run at the campaign's rate, from the start.
    per_second = campaign.rate_per_minute / 60
    position = 0
    # The same draws for every member whatever its variant or status, so which contacts reply
    # or unsubscribe does not depend on the split (which hashes primary keys).
    draws = [
        (
            tuple(rng.random() for _ in range(5)),
            rng.expovariate(1 / 240),
            rng.randint(5, 600),
            rng.randint(2, 24 * 10),
        )
        for _ in members
    ]
    # Clicks are each variant's rate of its delivered emails, exactly: the split hashes primary
    # keys, so a small demo must not leave its weaker variant with no click by chance.
    click_draws: dict[int, list[float]] = {}
    for member, skip, ((u_bounce, u_click, *_), *_) in zip(members, sendable, draws, strict=True):
        if not skip and u_bounce >= BOUNCE_RATE:
            variant = variant_for_bucket(bucket_for(campaign.pk, member[0]), variant_ids, 1)
            click_draws.setdefault(variant, []).append(u_click)
    click_below = {}
    for variant, values in click_draws.items():
        values.sort()
        clicks = max(1, round(rates[variant][1] * len(values)))
        click_below[variant] = values[min(clicks, len(values)) - 1]
    for member, pk, skip, draw in zip(members, recipient_ids, sendable, draws, strict=True):
        contact_id, email, _, first, company, owner_first, owner_last, owner_id = member
        email = (email or "").lower()
        (u_bounce, u_click, u_open, u_reply, u_unsubscribe), open_minutes, click_s, reply_hours = (
            draw
        )
        open_delay = dt.timedelta(minutes=open_minutes)
        click_delay = dt.timedelta(seconds=click_s)
        bucket = bucket_for(campaign.pk, contact_id)
        if skip:
            rows.append(
                (pk, campaign.pk, contact_id, email, None, bucket, RecipientStatus.SKIPPED, skip)
                + (None, None, None, None)
            )
            continue
        variant = variant_for_bucket(bucket, variant_ids, 1)
        queued = started + dt.timedelta(seconds=position / per_second)
        position += 1
        outbox_id = next(outbox_ids)
        opened = clicked = None
        open_rate, click_rate = rates[variant]
        reply_at = queued + dt.timedelta(hours=reply_hours)
        if u_bounce < BOUNCE_RATE:
            bounced.append((email, queued + dt.timedelta(minutes=1 + u_open * 30)))
        else:
            if u_click <= click_below[variant]:
                opened = queued + open_delay
                clicked = opened + click_delay
            elif u_open < (open_rate - click_rate) / (1 - click_rate):
                opened = queued + open_delay
            # Replies come from the most engaged: those who would have clicked either variant.
            engaged = u_click < engaged_rate
            if u_reply < (REPLY_RATE_ENGAGED if engaged else REPLY_RATE_OTHERS):
                if reply_at < now:
                    replies.append((contact_id, owner_id, reply_at))
            elif u_unsubscribe < UNSUBSCRIBE_AFTER_RATE:
                # They read it, then used the unsubscribe link.
                opened = opened or queued + open_delay
                unsubscribed.append((contact_id, email, opened + dt.timedelta(minutes=2)))
        values = {
            "first_name": first or "",
            "company": company or "",
            "owner_name": f"{owner_first or ''} {owner_last or ''}".strip(),
        }
        outbox.append(
            (
                outbox_id,
                email,
                _merge(subjects[variant], values)[:255],
                _merge(bodies[variant], values),
                contact_ct,
                contact_id,
                OutboxStatus.SENT,
                1,
                f"camp:{campaign.pk}:{contact_id}",
                queued,
                queued + dt.timedelta(seconds=2),
                queued,
            )
        )
        rows.append(
            (pk, campaign.pk, contact_id, email, variant, bucket, RecipientStatus.SENT, "")
            + (outbox_id, queued, opened, clicked)
        )
    ctx.insert_rows(
        OutboundEmail,
        [
            "id",
            "to_email",
            "subject",
            "body_text",
            "content_type_id",
            "object_id",
            "status",
            "attempts",
            "idempotency_key",
            "claimed_at",
            "sent_at",
            "created_at",
        ],
        outbox,
    )
    ctx.insert_rows(
        CampaignRecipient,
        [
            "id",
            "campaign_id",
            "contact_id",
            "email",
            "variant_id",
            "bucket",
            "status",
            "skip_reason",
            "outbound_email_id",
            "queued_at",
            "opened_at",
            "clicked_at",
        ],
        rows,
    )
    ctx.insert_rows(
        Suppression,
        ["email", "reason", "created_at"],
        [(email, SuppressionReason.BOUNCE, at) for email, at in bounced],
    )
    _unsubscribe(ctx, [(c, e) for c, e, _ in unsubscribed], [at for _, _, at in unsubscribed])
    ctx.insert_rows(
        Activity,
        [
            "kind",
            "summary",
            "body",
            "occurred_at",
            "actor_id",
            "subject_owner_id",
            "content_type_id",
            "object_id",
            "created_at",
        ],
        [
            (
                ActivityKind.EMAIL,
                f"Replied to “{campaign.name[:150]}”",
                "Interested; asked for a call next week.",
                at,
                owner_id,
                owner_id,
                contact_ct,
                contact_id,
                at,
            )
            for contact_id, owner_id, at in replies
        ],
    )


def _merge(template: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        template = template.replace("{{ " + name + " }}", value)
    return template


def _unsubscribe(ctx, people, when):
    """People who unsubscribed: the address suppressed, the contact's marketing consent gone
    (what ``contact_unsubscribe`` does for one click)."""
    from crm.models import Contact
    from leads.choices import SuppressionReason
    from leads.models import Suppression

    if not people:
        return
    ctx.insert_rows(
        Suppression,
        ["email", "reason", "created_at"],
        [
            (email, SuppressionReason.UNSUBSCRIBE, at)
            for (_, email), at in zip(people, when, strict=True)
        ],
    )
    ids = [c for c, _ in people]
    for start in range(0, len(ids), UPDATE_CHUNK):
        Contact.objects.filter(pk__in=ids[start : start + UPDATE_CHUNK]).update(
            marketing_consent=False, marketing_consent_at=None
        )
