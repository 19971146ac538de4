"""Leads in imported email (``crm.mail.imports``): an email to or from a lead's address is
shown on the lead, and a lead's reply stops its nurturing as "mark replied" does."""

from datetime import timedelta

from crm.choices import MailDirection
from crm.models import Contact
from leads.choices import EnrollmentState
from leads.models import Lead
from leads.services.leads import lead_mark_replied

#: A Date header has whole seconds and senders' clocks drift: a reply this much "older" than
#: the lead still counts as answering it.
CLOCK_SKEW = timedelta(minutes=10)


def leads_of_addresses(*, emails, contacts, accounts) -> list:
    """The leads with a counterpart's address (stored lower case, like the addresses)."""
    return list(Lead.objects.filter(email__in=emails).order_by("id"))


def lead_replied_by_mail(*, mail, record) -> None:
    """A customer's email reached a lead (or a contact converted from one): the lead replied.

    Only a reply sent after the lead was captured and after the reply already recorded counts,
    so a first sync that imports years of old mail does not move the lead back in time; a
    second import of the same message links nothing new and so calls nothing."""
    if mail.direction != MailDirection.INBOUND:
        return
    if isinstance(record, Lead):
        leads = [record]
    elif isinstance(record, Contact):
        leads = list(
            Lead.objects.filter(
                converted_contact=record,
                enrollments__state=EnrollmentState.ACTIVE,
            ).distinct()
        )
    else:
        return
    for lead in leads:
        if mail.sent_at < lead.created_at - CLOCK_SKEW:
            continue
        if lead.replied_at is not None and lead.replied_at >= mail.sent_at:
            continue
        lead_mark_replied(lead=lead, when=mail.sent_at)
