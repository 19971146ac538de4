"""Subscriptions: every change of status or MRR goes through here, which writes the MRR ledger
and the timeline in the same transaction."""

import calendar
import datetime as dt
import logging
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from crm import webhooks
from crm.db import lock_rows
from crm.services.custom_fields import changed_fields_label, custom_fields_apply
from crm.services.timeline import system_event
from retention.choices import (
    PAYING_STATUSES,
    SUBSCRIPTION_TRANSITIONS,
    MovementKind,
    SubscriptionStatus,
)
from retention.models import MrrMovement, Subscription

logger = logging.getLogger(__name__)
CENTS = Decimal("0.01")


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later (the month's last day when it is shorter)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _money(value) -> Decimal:
    value = Decimal(value).quantize(CENTS)
    if value < 0:
        raise ValidationError({"mrr": "MRR cannot be negative."})
    return value


def _movement(*, subscription, kind, amount, on, user=None, note="") -> MrrMovement:
    return MrrMovement.objects.create(
        subscription=subscription,
        account_id=subscription.account_id,
        kind=kind,
        date=on,
        amount=amount,
        currency=subscription.currency,
        mrr_after=subscription.mrr if subscription.status in PAYING_STATUSES else Decimal("0"),
        note=note[:200],
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )


def _log(subscription, summary: str, user=None, *, account_summary: str = "") -> None:
    """A line on the subscription's timeline, and (without amounts: support agents read account
    timelines but not revenue) one on the account's."""
    from crm.choices import ActivityKind
    from crm.services.timeline import activity_log

    actor = user if getattr(user, "is_authenticated", False) else None
    activity_log(subject=subscription, kind=ActivityKind.SYSTEM, summary=summary, actor=actor)
    if account_summary:
        system_event(
            subject=subscription.account,
            summary=f"Subscription {subscription.plan}: {account_summary}",
        )


def _lock(subscription: Subscription) -> Subscription:
    lock_rows(Subscription, subscription.pk)
    return Subscription.objects.select_related("account").get(pk=subscription.pk)


@transaction.atomic
def subscription_create(
    *,
    account,
    plan: str,
    mrr,
    start_date: dt.date,
    currency: str = "",
    seats: int = 1,
    term_months: int = 12,
    renewal_date: dt.date | None = None,
    auto_renew: bool = True,
    status: str = SubscriptionStatus.ACTIVE,
    owner=None,
    product_sku: str = "",
    source_opportunity_id: int | None = None,
    user=None,
    custom: dict | None = None,
) -> Subscription:
    """A new subscription; a paying one writes a "new" MRR movement on its start date.
    ``custom``: custom field values by key."""
    from django.conf import settings

    if status not in (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIAL):
        raise ValidationError({"status": "A subscription starts active or as a trial."})
    if term_months < 1:
        raise ValidationError({"term_months": "The term is at least one month."})
    if seats < 1:
        raise ValidationError({"seats": "At least one seat."})
    subscription = Subscription(
        account=account,
        owner=owner if owner is not None else account.owner,
        plan=plan,
        product_sku=product_sku,
        seats=seats,
        mrr=_money(mrr),
        currency=currency or settings.DEFAULT_CURRENCY,
        status=status,
        start_date=start_date,
        term_months=term_months,
        renewal_date=renewal_date or add_months(start_date, term_months),
        auto_renew=auto_renew,
        source_opportunity_id=source_opportunity_id,
    )
    custom_fields_apply(subscription, {"custom": custom}, user=user)
    subscription.save(force_insert=True)
    if status == SubscriptionStatus.ACTIVE and subscription.mrr:
        _movement(
            subscription=subscription,
            kind=MovementKind.NEW,
            amount=subscription.mrr,
            on=start_date,
            user=user,
        )
    _log(
        subscription,
        f"Subscription started ({subscription.get_status_display()}): "
        f"{subscription.currency} {subscription.mrr:,.2f} MRR, {seats} seats",
        user,
        account_summary=f"started ({subscription.get_status_display().lower()})",
    )
    webhooks.emit("subscription.created", subscription)
    return subscription


def _check_transition(subscription: Subscription, status: str) -> None:
    if status not in SubscriptionStatus.values:
        raise ValidationError({"status": "Unknown status."})
    if status not in SUBSCRIPTION_TRANSITIONS[subscription.status]:
        raise ValidationError(
            {
                "status": f"A {subscription.get_status_display().lower()} subscription cannot "
                f"become {SubscriptionStatus(status).label.lower()}."
            }
        )


@transaction.atomic
def subscription_set_status(
    *, subscription: Subscription, status: str, user=None, on: dt.date | None = None, note=""
) -> Subscription:
    """The one way a subscription changes status; the ledger follows what it means for MRR:
    a trial converting is new MRR, churned or expired after paying is churn, paying again after
    that is a reactivation. Cancelling stops auto-renewal; it pays until it ends."""
    subscription = _lock(subscription)
    if subscription.status == status:
        return subscription
    _check_transition(subscription, status)
    on = on or timezone.localdate()
    old = subscription.status
    was_paying = old in PAYING_STATUSES
    subscription.status = status
    fields = ["status", "updated_at"]
    kind = amount = None
    if status == SubscriptionStatus.ACTIVE and not was_paying:
        kind = MovementKind.NEW if old == SubscriptionStatus.TRIAL else MovementKind.REACTIVATION
        amount = subscription.mrr
        subscription.ended_on = None
        fields.append("ended_on")
    elif status in (SubscriptionStatus.CHURNED, SubscriptionStatus.EXPIRED):
        subscription.ended_on = on
        fields.append("ended_on")
        if was_paying:
            kind, amount = MovementKind.CHURN, -subscription.mrr
    if status == SubscriptionStatus.CANCELLED:
        subscription.auto_renew = False
        fields.append("auto_renew")
    subscription.save(update_fields=fields)
    if kind is not None and amount:
        _movement(subscription=subscription, kind=kind, amount=amount, on=on, user=user, note=note)
    _log(
        subscription,
        f"Status: {SubscriptionStatus(old).label} → {subscription.get_status_display()}"
        + (f" ({note})" if note else ""),
        user,
        account_summary=f"{SubscriptionStatus(old).label.lower()} → "
        f"{subscription.get_status_display().lower()}",
    )
    webhooks.emit("subscription.changed", subscription, changes=["status"], previous_status=old)
    return subscription


@transaction.atomic
def subscription_change(
    *,
    subscription: Subscription,
    mrr=None,
    seats: int | None = None,
    user=None,
    on: dt.date | None = None,
    note: str = "",
) -> Subscription:
    """Change MRR and/or seats; on a paying subscription a higher MRR is an expansion and a
    lower one a contraction in the ledger."""
    subscription = _lock(subscription)
    fields = []
    if seats is not None and seats != subscription.seats:
        if seats < 1:
            raise ValidationError({"seats": "At least one seat."})
        subscription.seats = seats
        fields.append("seats")
    delta = Decimal("0")
    if mrr is not None:
        mrr = _money(mrr)
        delta = mrr - subscription.mrr
        if delta:
            subscription.mrr = mrr
            fields.append("mrr")
    if not fields:
        return subscription
    subscription.save(update_fields=[*fields, "updated_at"])
    if delta and subscription.status in PAYING_STATUSES:
        _movement(
            subscription=subscription,
            kind=MovementKind.EXPANSION if delta > 0 else MovementKind.CONTRACTION,
            amount=delta,
            on=on or timezone.localdate(),
            user=user,
            note=note,
        )
    parts = []
    if "mrr" in fields:
        parts.append(f"MRR {subscription.currency} {subscription.mrr:,.2f} ({delta:+,.2f})")
    if "seats" in fields:
        parts.append(f"{subscription.seats} seats")
    kind = "expanded" if delta > 0 else "contracted" if delta < 0 else "changed"
    _log(subscription, "Changed " + ", ".join(parts), user, account_summary=kind)
    webhooks.emit("subscription.changed", subscription, changes=fields)
    return subscription


@transaction.atomic
def subscription_renew(
    *, subscription: Subscription, user=None, mrr=None, on: dt.date | None = None
) -> Subscription:
    """Extend a subscription by one term from its renewal date (a renewal deal was won); a new
    MRR at renewal is an expansion or contraction. A churned or expired one is reactivated."""
    subscription = _lock(subscription)
    if (
        subscription.status not in PAYING_STATUSES
        or subscription.status == SubscriptionStatus.CANCELLED
    ):
        subscription = subscription_set_status(
            subscription=subscription, status=SubscriptionStatus.ACTIVE, user=user, on=on
        )
    old_date = subscription.renewal_date
    subscription.renewal_date = add_months(old_date, subscription.term_months)
    subscription.auto_renew = True
    subscription.save(update_fields=["renewal_date", "auto_renew", "updated_at"])
    _log(
        subscription,
        f"Renewed: next renewal {subscription.renewal_date:%Y-%m-%d}",
        user,
        account_summary=f"renewed until {subscription.renewal_date:%Y-%m-%d}",
    )
    webhooks.emit("subscription.changed", subscription, changes=["renewal_date", "auto_renew"])
    if mrr is not None:
        subscription = subscription_change(
            subscription=subscription, mrr=mrr, user=user, on=on, note="At renewal"
        )
    return subscription


# Won deals -------------------------------------------------------------------------------------


def recurring_lines(opportunity) -> list[dict]:
    """The deal's monthly line items grouped by product: sku, name, MRR and seats."""
    from django.db.models import Sum

    from sales.choices import Billing

    rows = (
        opportunity.line_items.filter(billing=Billing.MONTHLY)
        .values("product__sku", "product__name")
        .annotate(mrr=Sum("total"), seats=Sum("quantity"))
        .order_by("product__name", "product__sku")
    )
    return [
        {"sku": r["product__sku"], "name": r["product__name"], "mrr": r["mrr"], "seats": r["seats"]}
        for r in rows
        if r["mrr"]
    ]


@transaction.atomic
def subscriptions_from_won_deal(*, opportunity, user=None) -> list[Subscription]:
    """A won deal's recurring products start subscriptions, or expand the account's live
    subscription of the same product (and currency). A renewal deal renews instead (renewals).
    Safe to call twice for one deal: a deal that already started or expanded one does nothing."""
    from retention.services import renewals

    if renewals.renewal_for_opportunity(opportunity) is not None:
        return renewals.renewal_won(opportunity=opportunity, user=user)
    lines = recurring_lines(opportunity)
    if not lines:
        return []
    if MrrMovement.objects.filter(
        account_id=opportunity.account_id, note=_deal_note(opportunity)
    ).exists():
        return []
    on = (
        timezone.localdate(opportunity.closed_at) if opportunity.closed_at else timezone.localdate()
    )
    touched = []
    for line in lines:
        live = (
            Subscription.objects.select_for_update()
            .filter(
                account_id=opportunity.account_id,
                product_sku=line["sku"],
                currency=opportunity.currency,
                status__in=[*PAYING_STATUSES, SubscriptionStatus.TRIAL],
            )
            .order_by("id")
            .first()
        )
        if live is None:
            subscription = subscription_create(
                account=opportunity.account,
                plan=line["name"],
                product_sku=line["sku"],
                mrr=line["mrr"],
                currency=opportunity.currency,
                seats=line["seats"],
                start_date=on,
                owner=opportunity.account.owner or opportunity.owner,
                source_opportunity_id=opportunity.pk,
                user=user,
            )
            # The "new" movement names the deal, so a repeated call knows it was handled.
            subscription.movements.update(note=_deal_note(opportunity))
        elif live.status == SubscriptionStatus.TRIAL:
            subscription_change(subscription=live, mrr=line["mrr"], seats=line["seats"], user=user)
            subscription = subscription_set_status(
                subscription=live,
                status=SubscriptionStatus.ACTIVE,
                user=user,
                on=on,
                note=_deal_note(opportunity),
            )
        else:
            subscription = subscription_change(
                subscription=live,
                mrr=live.mrr + line["mrr"],
                seats=live.seats + line["seats"],
                user=user,
                on=on,
                note=_deal_note(opportunity),
            )
        touched.append(subscription)
    return touched


def _deal_note(opportunity) -> str:
    return f"Deal #{opportunity.pk}"


#: Fields a person edits directly (MRR, seats and status go through the ledger services).
EDITABLE_FIELDS = ("plan", "owner", "term_months", "renewal_date", "auto_renew")


@transaction.atomic
def subscription_update(*, subscription: Subscription, user, **data) -> Subscription:
    subscription = _lock(subscription)
    changed = [f for f in EDITABLE_FIELDS if f in data and getattr(subscription, f) != data[f]]
    if "term_months" in changed and data["term_months"] < 1:
        raise ValidationError({"term_months": "The term is at least one month."})
    for name in changed:
        setattr(subscription, name, data[name])
    custom_before = subscription.custom
    if custom_fields_apply(subscription, data, user=user):
        changed.append("custom")
    if changed:
        subscription.save(update_fields=[*changed, "updated_at"])
        labels = changed_fields_label(subscription, changed, custom_before)
        _log(subscription, f"Changed {labels}", user)
        webhooks.emit("subscription.changed", subscription, changes=changed)
    return subscription
