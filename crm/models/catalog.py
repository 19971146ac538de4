from django.db import models


class CatalogVersion(models.Model):
    """One row (id 1): a number every change to a catalog table raises, in the same transaction
    (``crm.catalog``). Web processes keep what they read of the catalog until it changes."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    value = models.BigIntegerField(default=0)

    def __str__(self):
        return f"catalog {self.value}"
