"""Demo email templates: two the manager shares with everyone and one private to ``rep``, and
signatures for the sellers, so writing an email from a deal has something to start from."""

from crm.choices import TemplateSharing

DEMO_TEMPLATES = [
    (
        "manager",
        "Proposal follow-up",
        "{{ deal.name }}: next steps",
        'Hi {{ contact.first_name|default:"there" }},\n\n'
        "thank you for your time. As promised, here is a summary of {{ deal.name }} for "
        "{{ account.name }}: {{ deal.amount }}, planned to start by {{ deal.close_date }}.\n\n"
        "Shall we go through it together this week?\n\n{{ user.signature }}",
        TemplateSharing.ALL,
    ),
    (
        "manager",
        "First contact",
        "{{ account.name }} and us",
        'Hello {{ contact.first_name|default:"there" }},\n\n'
        "I look after customers like {{ account.name }} and would like to learn how your team "
        "works today. Would a 20-minute call next week suit you?\n\n{{ user.signature }}",
        TemplateSharing.ALL,
    ),
    (
        "rep",
        "Lead check-in",
        "Following up, {{ lead.first_name }}",
        'Hi {{ lead.first_name|default:"there" }},\n\n'
        "I saw that {{ lead.company }} looked at our product. Happy to answer any question.\n\n"
        "{{ user.signature }}",
        TemplateSharing.PRIVATE,
    ),
]


def seed(ctx):
    from crm.models import EmailTemplate

    templates = [
        EmailTemplate(
            owner=ctx.users[owner], name=name, subject=subject, body=body, sharing=sharing
        )
        for owner, name, subject, body, sharing in DEMO_TEMPLATES
        if owner in ctx.users
    ]
    ctx.bulk_create(EmailTemplate, templates)
    for name, user in ctx.users.items():
        if not user.email_signature:
            user.email_signature = f"{user.get_full_name() or name}\n{user.email}".strip()
            user.save(update_fields=["email_signature"])
