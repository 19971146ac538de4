"""Submissions of public lead forms: the embeddable web-to-lead form and referral links."""

from django.db import transaction

from crm.choices import ActivityKind
from crm.models import ConsentChannel
from crm.normalize import normalize_email
from crm.services.consents import ConsentProof
from crm.services.timeline import activity_log
from leads.choices import LeadSource
from leads.models import Campaign, Lead
from leads.privacy import erased_emails
from leads.services import leads as lead_services
from leads.services import sequences


def public_form_lead(
    *,
    data: dict,
    source: str,
    campaign: Campaign | None = None,
    consent_proof: ConsentProof | None = None,
    owner=None,
):
    """The lead of a public form's submission (the web form, a referral link, a booking page):
    a new one, deduplicated, scored and assigned (to ``owner`` when given, else by the
    assignment rules; flagged when the person is a known contact), or the lead the submission
    matches. Returns ``(lead, created)``; ``(None, False)`` for the address of an erased
    person (README, "Personal data"): nothing of them is stored again. ``consent_proof``: the
    page, the visitor's address and the wording they agreed to."""
    if erased_emails([normalize_email(data.get("email", ""))]):
        return None, False
    fields = {
        "first_name": data.get("first_name", ""),
        "last_name": data["last_name"],
        "email": data["email"],
        "phone": data.get("phone", ""),
        "company_name": data.get("company_name", ""),
        "title": data.get("title", ""),
        "need": data.get("message", ""),
        "source": source,
        "marketing_consent": bool(data.get("consent")),
        "email_consent": True,
    }
    if campaign is not None:
        fields["campaign"] = campaign
    if owner is not None:
        fields["owner"] = owner
    try:
        lead = lead_services.lead_create(
            on_duplicate="raise", consent_proof=consent_proof, **fields
        )
        return lead, True
    except lead_services.DuplicateLeadError as exc:
        if exc.match.lead is None:
            lead = lead_services.lead_create(
                on_duplicate="flag", consent_proof=consent_proof, **fields
            )
            return lead, True
        return exc.match.lead, False


def web_form_proof(*, campaign: Campaign, ip: str | None) -> ConsentProof:
    """Proof of a consent given on ``campaign``'s web form from ``ip``, under its wording."""
    return ConsentProof(
        channel=ConsentChannel.WEB_FORM, name=campaign.name, ip=ip, wording=campaign.consent_wording
    )


@transaction.atomic
def web_form_submit(*, campaign: Campaign, data: dict, ip: str | None = None) -> Lead | None:
    """A submission becomes a lead (deduplicated, scored, assigned); someone already known gets
    the submission on their timeline instead of a second lead; an erased person's submission
    is dropped (None). Consent given leaves proof: the form, ``ip`` and the wording shown."""
    consent = bool(data.get("consent"))
    proof = web_form_proof(campaign=campaign, ip=ip)
    lead, created = public_form_lead(
        data=data, source=LeadSource.WEB_FORM, campaign=campaign, consent_proof=proof
    )
    if lead is None:
        return None
    if not created:
        activity_log(
            subject=lead,
            kind=ActivityKind.NOTE,
            summary=f"Submitted the web form “{campaign.name}” again",
            body=data.get("message", ""),
        )
        if consent and not lead.marketing_consent and lead.unsubscribed_at is None:
            # Consent is stamped by lead_update (crm.services.customers.consent_stamp).
            lead_services.lead_update(
                lead=lead, user=None, consent_proof=proof, marketing_consent=True
            )
    if consent and campaign.sequence_id and lead.is_open:
        sequences.lead_enrol(lead=lead, sequence=campaign.sequence)
    return lead
