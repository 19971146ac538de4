"""Writing email from a lead (``crm.registry.compose_targets``): its address, its merge
values, and its consent: an unsubscribed lead, or one who withdrew email consent, is not
written to; opens and clicks are counted only for a lead who gave email consent."""

from crm import registry
from crm.services.compose import email_consent_withdrawn
from leads.models import Lead


def lead_merge_values(lead: Lead) -> dict:
    person = {
        "first_name": lead.first_name,
        "last_name": lead.last_name,
        "full_name": lead.full_name,
        "email": lead.email,
        "title": lead.title,
    }
    return {
        "lead": {**person, "company": lead.company_name},
        # A template written for contacts reads a lead the same way.
        "contact": person,
        "account": {"name": lead.company_name, "domain": lead.website},
    }


def lead_opted_out(queryset):
    return queryset.filter(unsubscribed_at__isnull=False) | email_consent_withdrawn(queryset)


def register() -> None:
    registry.compose_targets.register(
        "lead",
        Lead,
        label="Lead",
        recipients=lambda lead: (
            [registry.Recipient(lead.email, lead.full_name)] if lead.email else []
        ),
        merge=lead_merge_values,
    )
    registry.compose_targets.register_person(
        Lead,
        opted_out=lead_opted_out,
        trackable=lambda qs: qs.filter(email_consent=True, unsubscribed_at__isnull=True),
    )
