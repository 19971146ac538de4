from django.db import models
from pghistory.models import Event


class FieldEvent(Event):
    """The base of every field-history event model (README, "Field history").

    One row per insert, update or delete of a tracked record, written by a database trigger
    (django-pghistory): the tracked fields as they stood after the change (before it, for a
    delete), who and through what in ``pgh_context``, and for updates ``pgh_changes``, the
    fields that changed as ``{field name: [old, new]}`` in their stored (JSON) form, so a row
    shows "field: old → new" without reading its neighbours.
    """

    pgh_changes = models.JSONField(null=True, editable=False)

    class Meta:
        abstract = True
