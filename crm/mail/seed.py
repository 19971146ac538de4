"""Demo emails (``seed_demo``): each rep's conversations with a few of their contacts, imported
through the same import as a synced mailbox, so they land on the contacts, accounts and open
deals as real mail would."""

from datetime import timedelta
from email.message import EmailMessage
from email.utils import format_datetime

from crm.mail.imports import OurAddresses, mail_message_import
from crm.models import Contact

QUESTIONS = (
    ("Pricing for the next term", "Could you send us the pricing for the next term?"),
    ("Start date", "Can we start with the first team at the beginning of next month?"),
    ("Contract questions", "Our legal team has two questions about the contract draft."),
    ("Seats", "We may need ten more seats. What would that change?"),
    ("Meeting next week", "Would Tuesday or Wednesday suit you for a call?"),
)
ANSWERS = (
    "Thanks for asking. I have attached the figures and am happy to walk you through them.",
    "That works for us. I will send the details by the end of the day.",
    "Of course. Let us go through them together on a short call.",
)
#: Conversations per rep at scale 1, and at most whatever the scale.
PER_REP = 5
PER_REP_MAX = 50


def seed(ctx):
    count = 0
    ours = OurAddresses.load()  # read once for the batch, as a mailbox sync does
    for rep in ctx.reps:
        contacts = (
            Contact.objects.filter(owner=rep)
            .exclude(email="")
            .order_by("last_name", "first_name", "email")[: min(ctx.count(PER_REP), PER_REP_MAX)]
        )
        for n, contact in enumerate(contacts):
            subject, question = ctx.rng.choice(QUESTIONS)
            asked = ctx.now - timedelta(
                days=ctx.rng.randint(1, 40), minutes=ctx.rng.randint(0, 600)
            )
            question_id = f"<demo.{rep.username}.{n}.q@{contact.email.rpartition('@')[2]}>"
            mail_message_import(
                mailbox=None,
                user=rep,
                ours=ours,
                raw=_raw(
                    sender=f"{contact.first_name} {contact.last_name} <{contact.email}>",
                    to=rep.email,
                    subject=subject,
                    body=f"Hello {rep.first_name or rep.username},\n\n{question}\n\n"
                    f"Best regards,\n{contact.first_name}",
                    message_id=question_id,
                    when=asked,
                ),
            )
            mail_message_import(
                mailbox=None,
                user=rep,
                ours=ours,
                raw=_raw(
                    sender=f"{rep.get_full_name() or rep.username} <{rep.email}>",
                    to=contact.email,
                    subject=f"Re: {subject}",
                    body=f"Hello {contact.first_name},\n\n{ctx.rng.choice(ANSWERS)}",
                    message_id=f"<demo.{rep.username}.{n}.a@demo.example.com>",
                    when=asked + timedelta(hours=ctx.rng.randint(1, 20)),
                    in_reply_to=question_id,
                ),
            )
            count += 1
    ctx.progress(f"{count} email conversations")


def _raw(*, sender, to, subject, body, message_id, when, in_reply_to="") -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = format_datetime(when)
    message["Message-ID"] = message_id
    if in_reply_to:
        message["In-Reply-To"] = in_reply_to
        message["References"] = in_reply_to
    message.set_content(body)
    return message.as_bytes()
