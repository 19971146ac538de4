"""The ``data`` of the leads stage's events (``lead.created``, ``lead.converted``)."""

from crm.webhooks import record_url
from crm.webhooks.payloads import account_ref, user_ref

LEAD_FIELDS = (
    "id",
    "first_name",
    "last_name",
    "email",
    "phone",
    "title",
    "company_name",
    "website",
    "industry",
    "source",
    "status",
    "score",
    "grade",
    "owner",
    "campaign",
    "created_at",
    "url",
)


def lead_data(lead) -> dict:
    data = {
        "id": lead.pk,
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "email": lead.email,
        "phone": lead.phone,
        "title": lead.title,
        "company_name": lead.company_name,
        "website": lead.website,
        "industry": lead.industry,
        "source": lead.source,
        "status": lead.status,
        "score": lead.score,
        "grade": lead.grade,
        "owner": user_ref(lead.owner),
        "campaign": {"id": lead.campaign_id, "name": lead.campaign.name}
        if lead.campaign_id
        else None,
        "created_at": lead.created_at,
        "url": record_url(lead),
    }
    if lead.converted_at:
        contact = lead.converted_contact
        data["converted_at"] = lead.converted_at
        data["account"] = account_ref(lead.converted_account)
        data["contact"] = (
            {"id": contact.pk, "email": contact.email, "url": record_url(contact)}
            if contact
            else None
        )
    return data


def register_events() -> None:
    from crm.registry import webhook_events

    webhook_events.register(
        "lead.created",
        label="Lead created",
        description="A lead was created: by hand, through a web form or a referral link, or "
        "for a win-back. A CSV import sends none (one per row would flood receivers).",
        payload="leads.webhooks.lead_data",
        fields=LEAD_FIELDS,
    )
    webhook_events.register(
        "lead.converted",
        label="Lead converted",
        description="A lead was converted (or merged into a contact): it names the account and "
        "contact it became, and the deal opened with it if any.",
        payload="leads.webhooks.lead_data",
        fields=(*LEAD_FIELDS, "converted_at", "account", "contact", "opportunity_id"),
    )
