"""The ``custom`` column and its index, the same on every model that carries custom fields::

class Ticket(models.Model):
    custom = custom_column()

    class Meta:
        indexes = [custom_index("ticket")]
"""

from django.contrib.postgres.indexes import GinIndex
from django.db import models


def custom_column():
    return models.JSONField(
        "custom fields",
        default=dict,
        blank=True,
        editable=False,
        help_text="Values of the fields admins added, by key.",
    )


def custom_index(name: str) -> GinIndex:
    return GinIndex(fields=["custom"], name=f"{name}_custom_gin", opclasses=["jsonb_path_ops"])
