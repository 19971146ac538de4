from django.conf import settings
from django.db import models

from crm.choices import Role


class CustomFieldKind(models.TextChoices):
    TEXT = "text", "Text"
    LONG_TEXT = "long_text", "Long text"
    NUMBER = "number", "Number"
    MONEY = "money", "Money"
    DATE = "date", "Date"
    BOOLEAN = "boolean", "Yes/no"
    CHOICE = "choice", "Choice"
    MULTI_CHOICE = "multi_choice", "Multiple choice"
    USER = "user", "User"
    RECORD = "record", "Link to a record"


class CustomFieldQuerySet(models.QuerySet):
    def active(self):
        return self.filter(archived_at__isnull=True)

    def for_entity(self, entity: str):
        return self.filter(entity=entity).order_by("order", "label", "id")


class CustomField(models.Model):
    """A field an admin added to accounts, contacts, leads, deals, tickets or subscriptions.

    Values live in the record's ``custom`` JSONB column under ``key`` (GIN-indexed), so adding a
    field is a row here, never a migration. ``key`` never changes once made: renaming changes
    the label only, and values stay where they are. A field is archived (hidden from forms and
    lists, its values kept) before it can be deleted; deleting it removes its values."""

    entity = models.CharField(max_length=30)
    key = models.SlugField(
        max_length=50,
        help_text="Where values are stored, in imports, exports and the API (cannot change).",
    )
    label = models.CharField(max_length=80)
    kind = models.CharField(max_length=20, choices=CustomFieldKind.choices)
    choices = models.JSONField(
        default=list, blank=True, help_text='Choice fields: [{"value", "label"}] in order.'
    )
    link_entity = models.CharField(
        max_length=30, blank=True, help_text="Link fields: the kind of record linked to."
    )
    required = models.BooleanField(default=False)
    default = models.JSONField(null=True, blank=True)
    help_text = models.CharField(max_length=200, blank=True)
    order = models.PositiveSmallIntegerField(default=100)
    in_lists = models.BooleanField(
        "column in lists",
        default=True,
        help_text="Shown as a column of the list page (a saved view can still hide it).",
    )
    roles = models.JSONField(
        default=list,
        blank=True,
        help_text=f"Roles that see the field ({', '.join(Role.values)}); empty: everyone.",
    )
    archived_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = CustomFieldQuerySet.as_manager()

    class Meta:
        ordering = ["entity", "order", "label", "id"]
        constraints = [
            models.UniqueConstraint(fields=["entity", "key"], name="customfield_entity_key_uniq")
        ]

    def __str__(self):
        return self.label

    @property
    def is_archived(self) -> bool:
        return self.archived_at is not None

    @property
    def choice_labels(self) -> dict[str, str]:
        return {str(c["value"]): str(c.get("label") or c["value"]) for c in self.choices or []}

    def visible_to(self, user) -> bool:
        if not self.roles:
            return True
        return bool(getattr(user, "role_names", frozenset()).intersection(self.roles)) or bool(
            getattr(user, "is_admin_role", False)
        )
