"""Submissions of the embeddable web-to-lead form."""

from django.db import transaction

from crm.choices import ActivityKind
from crm.services.timeline import activity_log
from leads.choices import LeadSource
from leads.models import Campaign, Lead
from leads.services import leads as lead_services
from leads.services import sequences


@transaction.atomic
def web_form_submit(*, campaign: Campaign, data: dict) -> Lead:
    """A submission becomes a lead (deduplicated, scored, assigned); someone already known gets
    the submission on their timeline instead of a second lead."""
    consent = bool(data.get("consent"))
    fields = {
        "first_name": data.get("first_name", ""),
        "last_name": data["last_name"],
        "email": data["email"],
        "phone": data.get("phone", ""),
        "company_name": data.get("company_name", ""),
        "title": data.get("title", ""),
        "need": data.get("message", ""),
        "source": LeadSource.WEB_FORM,
        "campaign": campaign,
        "marketing_consent": consent,
        "email_consent": True,
    }
    try:
        lead = lead_services.lead_create(on_duplicate="raise", **fields)
    except lead_services.DuplicateLeadError as exc:
        if exc.match.lead is None:
            lead = lead_services.lead_create(on_duplicate="flag", **fields)
        else:
            lead = exc.match.lead
            activity_log(
                subject=lead,
                kind=ActivityKind.NOTE,
                summary=f"Submitted the web form “{campaign.name}” again",
                body=data.get("message", ""),
            )
            if consent and not lead.marketing_consent and lead.unsubscribed_at is None:
                # Consent is stamped by lead_update (crm.services.customers.consent_stamp).
                lead_services.lead_update(lead=lead, user=None, marketing_consent=True)
    if consent and campaign.sequence_id and lead.is_open:
        sequences.lead_enrol(lead=lead, sequence=campaign.sequence)
    return lead
