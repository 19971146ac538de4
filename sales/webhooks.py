"""The ``data`` of the sales stage's events (``opportunity.*``)."""

from crm.webhooks import record_url
from crm.webhooks.payloads import account_ref, user_ref

OPPORTUNITY_FIELDS = (
    "id",
    "name",
    "account",
    "owner",
    "pipeline",
    "stage",
    "status",
    "amount",
    "currency",
    "mrr",
    "probability",
    "expected_close_date",
    "closed_at",
    "lost_reason",
    "source_lead_id",
    "created_at",
    "url",
)


def stage_ref(stage) -> dict | None:
    if stage is None:
        return None
    return {"id": stage.pk, "name": stage.name, "kind": stage.kind}


def opportunity_data(opportunity) -> dict:
    return {
        "id": opportunity.pk,
        "name": opportunity.name,
        "account": account_ref(opportunity.account),
        "owner": user_ref(opportunity.owner),
        "pipeline": {"id": opportunity.pipeline_id, "name": opportunity.pipeline.name},
        "stage": stage_ref(opportunity.stage),
        "status": opportunity.status,
        "amount": opportunity.amount,
        "currency": opportunity.currency,
        "mrr": opportunity.mrr,
        "probability": opportunity.probability,
        "expected_close_date": opportunity.expected_close_date,
        "closed_at": opportunity.closed_at,
        "lost_reason": opportunity.lost_reason,
        "source_lead_id": opportunity.source_lead_id,
        "created_at": opportunity.created_at,
        "url": record_url(opportunity),
    }


def register_events() -> None:
    from crm.registry import webhook_events

    def event(type, label, description, fields=OPPORTUNITY_FIELDS):
        webhook_events.register(
            type,
            label=label,
            description=description,
            payload="sales.webhooks.opportunity_data",
            fields=fields,
        )

    event(
        "opportunity.created",
        "Deal created",
        "A deal was opened: by hand, from a converted lead, or as a renewal or expansion.",
    )
    event(
        "opportunity.stage_changed",
        "Deal moved to another stage",
        "A deal moved to another stage, closing stages included (a win or a loss also sends "
        "its own event); from_stage is where it was.",
        (*OPPORTUNITY_FIELDS, "from_stage"),
    )
    event("opportunity.won", "Deal won", "A deal was won (once per deal).")
    event("opportunity.lost", "Deal lost", "A deal was lost, with its reason (once per loss).")
