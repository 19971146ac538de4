"""Finding leads and contacts that are the same person as a new or changed lead."""

from dataclasses import dataclass

from django.db.models import Q

from crm.models import Contact
from leads.models import Lead

FREE_MAIL_DOMAINS = frozenset(
    {"gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "gmx.de", "web.de"}
)


@dataclass
class DuplicateMatch:
    lead: Lead | None = None
    contact: Contact | None = None

    def __bool__(self):
        return self.lead is not None or self.contact is not None

    def describe(self) -> str:
        if self.lead is not None:
            return f"the lead {self.lead} (#{self.lead.pk})"
        if self.contact is not None:
            return f"the contact {self.contact} (#{self.contact.pk})"
        return ""


def exact_match(*, email: str, phone: str, exclude_pk=None) -> DuplicateMatch:
    """The lead, else the contact, with the same normalised email or phone."""
    condition = Q()
    if email:
        condition |= Q(email=email)
    if phone:
        condition |= Q(phone=phone)
    if not condition:
        return DuplicateMatch()
    leads = Lead.objects.filter(condition)
    if exclude_pk:
        leads = leads.exclude(pk=exclude_pk)
    lead = leads.order_by("created_at", "id").first()
    if lead is not None:
        return DuplicateMatch(lead=lead)
    return DuplicateMatch(contact=Contact.objects.filter(condition).order_by("id").first())


def email_domain(email: str) -> str:
    domain = email.rpartition("@")[2] if "@" in email else ""
    return "" if domain in FREE_MAIL_DOMAINS else domain


def likely_duplicate(*, lead: Lead) -> Lead | None:
    """Another lead with a similar name (same last name, first names agreeing on the initial)
    at the same company name or company domain."""
    if not lead.last_name:
        return None
    company = Q()
    if lead.company_name:
        company |= Q(company_name__iexact=lead.company_name)
    domain = lead.website or email_domain(lead.email)
    if domain:
        company |= Q(website=domain) | Q(email__iendswith="@" + domain)
    if not company:
        return None
    candidates = Lead.objects.filter(company, last_name__iexact=lead.last_name)
    if lead.pk:
        candidates = candidates.exclude(pk=lead.pk)
    initial = lead.first_name[:1].lower()
    for candidate in candidates.order_by("id")[:20]:
        other = candidate.first_name[:1].lower()
        if not initial or not other or initial == other:
            return candidate
    return None
