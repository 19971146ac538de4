"""Renewals: opening each renewal deal once, reminding owners, and winning or losing it."""

import datetime as dt
import logging
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone

from crm.db import lock_rows
from crm.models import OutboundEmail
from crm.services.outbox import email_queue
from crm.services.timeline import system_event
from retention.choices import SubscriptionStatus
from retention.models import Renewal, Subscription

logger = logging.getLogger(__name__)


def renewal_lead_days() -> int:
    """How many days before the renewal date its renewal deal is opened."""
    return int(getattr(settings, "RENEWAL_LEAD_DAYS", 90))


def reminder_days() -> tuple[int, ...]:
    """Days before the renewal date the owner is reminded, largest first."""
    return tuple(sorted(getattr(settings, "RENEWAL_REMINDER_DAYS", (90, 60, 30)), reverse=True))


def renewal_pipeline_name() -> str:
    return getattr(settings, "RENEWAL_PIPELINE_NAME", "Renewal")


def _renewal_stage():
    from sales.models import Pipeline
    from sales.services import first_open_stage

    pipeline = Pipeline.objects.filter(name=renewal_pipeline_name(), is_active=True).first()
    stage = first_open_stage(pipeline) if pipeline else None
    if stage is None:
        raise ValidationError(f"There is no active “{renewal_pipeline_name()}” pipeline.")
    return stage


def renewals_due(*, today: dt.date | None = None):
    """Ids of subscriptions whose renewal deal should be open by now and is not."""
    today = today or timezone.localdate()
    claimed = Renewal.objects.filter(
        subscription=OuterRef("pk"), renewal_date=OuterRef("renewal_date")
    )
    return (
        Subscription.objects.filter(
            status=SubscriptionStatus.ACTIVE,
            renewal_date__gte=today,
            renewal_date__lte=today + dt.timedelta(days=renewal_lead_days()),
        )
        .filter(~Exists(claimed))
        .order_by("renewal_date", "id")
        .values_list("id", flat=True)
    )


@transaction.atomic
def renewal_open(*, subscription_id: int) -> Renewal | None:
    """Open the renewal deal of a subscription's current renewal date, once: the unique
    (subscription, renewal date) row is claimed first, so a rerun or a second worker acts zero
    times. Returns the new renewal, or None when there was nothing (more) to do."""
    from sales.services import opportunity_create

    lock_rows(Subscription, subscription_id)
    subscription = (
        Subscription.objects.select_related("account", "owner")
        .filter(pk=subscription_id, status=SubscriptionStatus.ACTIVE)
        .first()
    )
    if subscription is None:
        return None
    value = (subscription.mrr * subscription.term_months).quantize(Decimal("0.01"))
    try:
        with transaction.atomic():
            renewal = Renewal.objects.create(
                subscription=subscription,
                renewal_date=subscription.renewal_date,
                value=value,
                currency=subscription.currency,
                opened_at=timezone.now(),
            )
    except IntegrityError:
        return None
    owner = subscription.owner or subscription.account.owner
    opportunity = opportunity_create(
        user=None,
        name=f"Renewal {subscription.renewal_date:%Y-%m}: {subscription.plan} · "
        f"{subscription.account.name}"[:200],
        account=subscription.account,
        stage=_renewal_stage(),
        owner=owner,
        amount=value,
        currency=subscription.currency,
        expected_close_date=subscription.renewal_date,
        next_step="Confirm the renewal with the customer",
    )
    renewal.opportunity_id = opportunity.pk
    renewal.save(update_fields=["opportunity_id"])
    system_event(
        subject=subscription,
        summary=f"Renewal deal opened for {subscription.renewal_date:%Y-%m-%d}",
    )
    return renewal


def renewal_for_opportunity(opportunity) -> Renewal | None:
    return (
        Renewal.objects.filter(opportunity_id=opportunity.pk).select_related("subscription").first()
    )


@transaction.atomic
def renewal_won(*, opportunity, user=None) -> list[Subscription]:
    """A won renewal deal extends its subscription by a term (once: only while the subscription
    still renews on the date the deal was opened for); new recurring value changes the MRR."""
    from retention.services.subscriptions import subscription_renew

    renewal = renewal_for_opportunity(opportunity)
    subscription = Subscription.objects.select_for_update().get(pk=renewal.subscription_id)
    if subscription.renewal_date != renewal.renewal_date:
        return []
    mrr = opportunity.mrr if opportunity.mrr else None
    return [subscription_renew(subscription=subscription, user=user, mrr=mrr)]


def on_opportunity_lost(sender, *, opportunity, user=None, **kwargs):
    """A lost renewal deal cancels its subscription: it runs to its renewal date, then ends."""
    from retention.services.subscriptions import subscription_set_status

    renewal = renewal_for_opportunity(opportunity)
    if renewal is None:
        return
    subscription = renewal.subscription
    if subscription.status == SubscriptionStatus.ACTIVE:
        subscription_set_status(
            subscription=subscription,
            status=SubscriptionStatus.CANCELLED,
            user=user,
            note="renewal deal lost",
        )


def renewal_reminders_send(*, today: dt.date | None = None) -> int:
    """Remind owners of renewals 90, 60 and 30 days ahead (each once: the outbox key names the
    subscription, renewal date and threshold). A day missed by the schedule is caught up."""
    today = today or timezone.localdate()
    thresholds = reminder_days()
    queued = 0
    for i, days in enumerate(thresholds):
        lower = thresholds[i + 1] if i + 1 < len(thresholds) else -1
        subscriptions = (
            Subscription.objects.filter(
                status__in=(SubscriptionStatus.ACTIVE, SubscriptionStatus.CANCELLED),
                renewal_date__gt=today + dt.timedelta(days=lower),
                renewal_date__lte=today + dt.timedelta(days=days),
                owner__isnull=False,
            )
            .exclude(owner__email="")
            .select_related("owner", "account")
            .order_by("renewal_date", "id")
        )
        for subscription in subscriptions.iterator(chunk_size=500):
            key = f"retention:renewal-reminder:{subscription.pk}:{subscription.renewal_date}:{days}"
            if OutboundEmail.objects.filter(idempotency_key=key).exists():
                continue
            url = reverse("retention:subscription_detail", args=[subscription.pk])
            email_queue(
                to_email=subscription.owner.email,
                subject=f"Renewal in {days} days: {subscription.account.name} – {subscription.plan}",
                body_text=(
                    f"{subscription.account.name}'s {subscription.plan} renews on "
                    f"{subscription.renewal_date:%Y-%m-%d} ({subscription.currency} "
                    f"{subscription.mrr:,.2f} a month, {subscription.seats} seats).\n\n"
                    f"{getattr(settings, 'SITE_URL', '')}{url}\n"
                ),
                related=subscription,
                idempotency_key=key,
            )
            queued += 1
    return queued
