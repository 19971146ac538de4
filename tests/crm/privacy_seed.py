"""A person seeded across every stage, for the personal-data export and erasure tests."""

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.core.files.base import ContentFile
from django.utils import timezone

from crm.choices import ActivityKind
from crm.mail.imports import mail_message_import
from crm.models import Contact, Mailbox, TabularImportRowError
from crm.services.customer_merges import contact_merge, differing_fields
from crm.services.customers import contact_delete
from crm.services.meetings import Invitee, meeting_schedule
from crm.services.timeline import activity_log
from leads.choices import EnrollmentState, ImportStatus
from leads.models import ImportRowError, Lead
from leads.services.leads import lead_convert, lead_update
from leads.services.merge import lead_merge_into_contact
from leads.services.web_forms import web_form_submit
from retention.models import Advocate
from retention.services.advocacy import (
    referral_lead_capture,
    testimonial_record,
    testimonial_request,
)
from retention.services.nps import nps_answer
from sales.models import Opportunity, OpportunityLineItem
from sales.services.quotes import quote_create
from support.services.csat import csat_answer
from support.services.inbound import inbound_email_process
from support.services.tickets import ticket_merge, ticket_reply
from tests.factories.crm import (
    ContactFactory,
    TabularImportJobFactory,
    TaskFactory,
    WebhookEndpointFactory,
)
from tests.factories.email_campaigns import CampaignRecipientFactory, SuppressionFactory
from tests.factories.leads import (
    CampaignFactory,
    ImportJobFactory,
    LeadFactory,
    SequenceEmailFactory,
    SequenceStepFactory,
)
from tests.factories.retention import NpsSurveyFactory
from tests.factories.sales import ProductFactory
from tests.factories.support import AttachmentFactory, CsatSurveyFactory, TicketFactory

FIRST = "Zelphine"
LAST = "Quorrowby"
EMAIL = "zelphine.quorrowby@example.org"
PHONE = "+14155550199"


@dataclass
class Seeded:
    lead: Lead
    contact: Contact
    ticket: object
    attachment_name: str
    import_file_names: list


def seed_person(*, admin, agent) -> Seeded:
    """The person's whole path: a web form lead (consent), edited (history), converted with a
    deal, line and quote; an email from them in a seller's mailbox; a ticket by email with an attachment, a reply, CSAT and NPS answers,
    a testimonial, a referral they made; campaign and sequence emails, a suppression, webhook
    deliveries, import rows and files that name them; merges of their duplicates, and a deleted
    duplicate in the trash."""
    WebhookEndpointFactory()  # every event is delivered: the payloads carry the person
    campaign = CampaignFactory(name="Spring webinar")
    lead = web_form_submit(
        campaign=campaign,
        data={
            "first_name": FIRST,
            "last_name": LAST,
            "email": EMAIL,
            "phone": "+1 415 555 0100",
            "company_name": "Hollow Pine Consulting",
            "message": f"Call {FIRST} back please",
            "consent": True,
        },
        ip="203.0.113.7",
    )
    lead = lead_update(lead=lead, user=admin, phone=PHONE)
    activity_log(
        subject=lead,
        kind=ActivityKind.CALL,
        summary=f"Called {FIRST}",
        body=f"{FIRST} {LAST} asked for a quote",
        actor=admin,
    )
    conversion = lead_convert(
        lead=lead,
        user=admin,
        create_opportunity=True,
        opportunity_name=f"{LAST} — onboarding",
        opportunity_amount=Decimal("1200"),
    )
    contact = conversion.contact
    deal = Opportunity.objects.get(source_lead=lead)
    OpportunityLineItem.objects.create(
        opportunity=deal,
        product=ProductFactory(),
        description=f"Seats for {FIRST}",
        unit_price=Decimal("100"),
        quantity=12,
        total=Decimal("1200"),
    )
    quote_create(opportunity=deal, user=admin)
    from crm.services.compose import email_compose

    email_compose(
        user=admin,
        kind="contact",
        record=contact,
        to_email=EMAIL,
        subject=f"Welcome, {FIRST}",
        body=f"Hello {FIRST} {LAST}, your notes are attached.",
        uploads=[ContentFile(f"Notes for {FIRST} {LAST}".encode(), name="notes.txt")],
    )
    TaskFactory(subject=contact, title=f"Send {FIRST} the contract", assignee=admin)
    starts_at = timezone.now() + timedelta(days=2)
    meeting_schedule(
        organizer=admin,
        created_by=admin,
        subject=contact,
        title=f"Demo for {FIRST}",
        starts_at=starts_at,
        ends_at=starts_at + timedelta(minutes=30),
        invitees=[Invitee(contact.email, contact.full_name, contact)],
    )
    from crm.services.notifications import notify

    notify(
        recipient=agent,
        kind="mentioned",
        verb=f"admin mentioned you on {FIRST} {LAST}",
        dedupe_key="privacy-seed",
        target=contact,
    )

    mail_message_import(
        mailbox=Mailbox.objects.create(user=admin, email_address=admin.email),
        raw=(
            f"From: {FIRST} {LAST} <{EMAIL}>\r\n"
            f"To: {admin.email}\r\n"
            f"Subject: Contract for {FIRST}\r\n"
            "Message-ID: <zq-mail@example.org>\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n"
            f"Regards, {FIRST} {LAST}, {PHONE}\r\n"
        ).encode(),
    )
    raw = (
        f"From: {FIRST} {LAST} <{EMAIL}>\r\n"
        "To: support@crm.example\r\n"
        f"Subject: Invoice question from {FIRST}\r\n"
        "Message-ID: <zq-1@example.org>\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n\r\n"
        f"Hello, this is {FIRST} {LAST}. Call me on {PHONE}.\r\n"
    ).encode()
    ticket = inbound_email_process(raw=raw).ticket
    attachment = AttachmentFactory(
        ticket=ticket,
        file=ContentFile(f"{FIRST} {LAST} {EMAIL}".encode(), name="passport.txt"),
        filename="passport.txt",
    )
    ticket_reply(ticket=ticket, user=agent, body=f"Hello {FIRST}, we fixed your invoice.")
    survey = CsatSurveyFactory(ticket=ticket)
    csat_answer(survey=survey, rating=5, comment=f"Thanks from {FIRST}")
    nps = NpsSurveyFactory(contact=contact, account=contact.account)
    nps_answer(survey=nps, score=10, comment=f"{FIRST} loves it")
    advocate = Advocate.objects.get(contact=contact)
    testimonial = testimonial_request(advocate=advocate, kind="testimonial", user=admin)
    testimonial_record(
        request=testimonial,
        quote=f"Great — {FIRST} {LAST}",
        permission_to_publish=True,
        status="received",
        user=admin,
    )
    referral_lead_capture(
        advocate=advocate,
        data={"first_name": "Friend", "last_name": "Ofzel", "email": "friend@example.net"},
    )

    recipient = CampaignRecipientFactory(contact=contact, email=EMAIL)
    recipient.opened_at = timezone.now()
    recipient.save(update_fields=["opened_at"])
    SuppressionFactory(email=EMAIL, reason="unsubscribe")
    step = SequenceStepFactory()
    SequenceEmailFactory(
        step=step,
        enrollment__sequence=step.sequence,
        enrollment__lead=lead,
        enrollment__state=EnrollmentState.ACTIVE,
    )

    lead_job = ImportJobFactory(
        status=ImportStatus.DONE,
        file=ContentFile(
            f"First name,Last name,E-mail\n{FIRST},{LAST},{EMAIL}\n".encode(), name="l.csv"
        ),
    )
    ImportRowError.objects.create(
        job=lead_job, line=2, reason="Duplicate", raw=f"{FIRST},{LAST},{EMAIL}"
    )
    tab_job = TabularImportJobFactory(
        kind="contacts",
        status="done",
        file=ContentFile(
            f"first_name,last_name,email\n{FIRST},{LAST},{EMAIL}\n".encode(), name="c.csv"
        ),
    )
    TabularImportRowError.objects.create(
        job=tab_job, line=2, reason="Bad phone", raw=f"{FIRST},{LAST},{EMAIL},{PHONE}"
    )
    # A second lead for them, merged into their contact; a second ticket, merged into the first;
    # a duplicate contact, deleted into the trash.
    duplicate = LeadFactory(first_name=FIRST, last_name=LAST, email=EMAIL.upper(), phone=PHONE)
    lead_merge_into_contact(lead=duplicate, contact=contact, user=admin)
    second = TicketFactory(
        contact=contact, account=contact.account, subject=f"Invoice again, {FIRST} {LAST}"
    )
    ticket_merge(source=second, target=ticket, user=admin)
    # A duplicate contact of theirs, merged into their contact (nothing taken from it).
    twin = ContactFactory(first_name=FIRST, last_name=LAST, phone=PHONE, account=contact.account)
    contact_merge(
        keep=contact,
        merge=twin,
        user=admin,
        field_choices=dict.fromkeys(differing_fields(contact, twin), "keep"),
    )
    contact_delete(
        contact=ContactFactory(
            first_name=FIRST, last_name=LAST, email=EMAIL, phone=PHONE, account=contact.account
        ),
        user=admin,
    )
    return Seeded(
        lead=Lead.objects.get(pk=lead.pk),
        contact=Contact.objects.get(pk=contact.pk),
        ticket=ticket,
        attachment_name=attachment.file.name,
        import_file_names=[lead_job.file.name, tab_job.file.name],
    )
