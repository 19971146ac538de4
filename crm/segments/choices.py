from django.db import models


class SegmentTarget(models.TextChoices):
    """The kinds of record a segment can hold; each is registered in ``segment_criteria`` by the
    app owning the model (``contact`` and ``account`` by crm, ``lead`` by leads)."""

    CONTACT = "contact", "Contacts"
    ACCOUNT = "account", "Accounts"
    LEAD = "lead", "Leads"
