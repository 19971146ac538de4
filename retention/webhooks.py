"""The ``data`` of the retention stage's events (``subscription.*``)."""

from crm.webhooks import record_url
from crm.webhooks.payloads import account_ref, user_ref

SUBSCRIPTION_FIELDS = (
    "id",
    "account",
    "owner",
    "plan",
    "product_sku",
    "status",
    "mrr",
    "currency",
    "seats",
    "start_date",
    "term_months",
    "renewal_date",
    "auto_renew",
    "ended_on",
    "source_opportunity_id",
    "url",
)


def subscription_data(subscription) -> dict:
    return {
        "id": subscription.pk,
        "account": account_ref(subscription.account),
        "owner": user_ref(subscription.owner),
        "plan": subscription.plan,
        "product_sku": subscription.product_sku,
        "status": subscription.status,
        "mrr": subscription.mrr,
        "currency": subscription.currency,
        "seats": subscription.seats,
        "start_date": subscription.start_date,
        "term_months": subscription.term_months,
        "renewal_date": subscription.renewal_date,
        "auto_renew": subscription.auto_renew,
        "ended_on": subscription.ended_on,
        "source_opportunity_id": subscription.source_opportunity_id,
        "url": record_url(subscription),
    }


def register_events() -> None:
    from crm.registry import webhook_events

    webhook_events.register(
        "subscription.created",
        label="Subscription started",
        description="A subscription started: by hand or from a won deal's recurring products.",
        payload="retention.webhooks.subscription_data",
        fields=SUBSCRIPTION_FIELDS,
    )
    webhook_events.register(
        "subscription.changed",
        label="Subscription changed",
        description="A subscription's plan, status, MRR, seats, term or renewal date "
        "changed; changes lists the fields that did (previous_status too on a status change).",
        payload="retention.webhooks.subscription_data",
        fields=(*SUBSCRIPTION_FIELDS, "changes", "previous_status"),
    )
