"""Saved views of the list pages: a user's named filters, sort, page size and columns of one
list, to open again in one click and to share with their team."""

from django.conf import settings
from django.db import connection, models
from django.db.models import Q
from django.db.models.expressions import RawSQL

from crm.links import record_url
from crm.models.users import Team


class SavedViewQuerySet(models.QuerySet):
    def visible_to(self, user):
        """The user's own views and the views members of their teams share (a team's managers
        count as its members); admins see every shared view."""
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        if user.is_admin_role:
            return self.filter(Q(owner_id=user.pk) | Q(shared_with_team=True))
        return self.filter(
            Q(owner_id=user.pk) | Q(shared_with_team=True, owner_id__in=_team_mates(user.pk))
        )

    def changeable_by(self, user):
        """Only a view's owner renames, updates, shares or deletes it."""
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        return self.filter(owner_id=user.pk)


def _team_mates(user_pk: int) -> RawSQL:
    """The members and managers of the teams ``user_pk`` is a member or manager of, as plain SQL
    over the two membership tables: every list page asks, and the ORM's joins of the same took
    longer to compile than to run."""
    members = connection.ops.quote_name(Team.members.through._meta.db_table)
    managers = connection.ops.quote_name(Team.managers.through._meta.db_table)
    teams = (
        f"SELECT team_id FROM {members} WHERE user_id = %s "
        f"UNION SELECT team_id FROM {managers} WHERE user_id = %s"
    )
    return RawSQL(
        f"SELECT user_id FROM {members} WHERE team_id IN ({teams}) "
        f"UNION SELECT user_id FROM {managers} WHERE team_id IN ({teams})",
        [user_pk] * 4,
    )


class SavedView(models.Model):
    """A named way of looking at one list page ("My open leads in Germany, by score"): its
    filters, sort and page size as a query string, and the columns it hides. The owner may share
    it with their team and make it the view their list opens with."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_views"
    )
    list_key = models.CharField(
        max_length=100, help_text="The list page's URL name, e.g. leads:lead_list."
    )
    name = models.CharField(max_length=80)
    query = models.CharField(
        max_length=2000, blank=True, help_text="Filters, sort and page size, as a query string."
    )
    hidden_columns = models.JSONField(
        default=list, blank=True, help_text="Keys of the list's columns this view hides."
    )
    shared_with_team = models.BooleanField(
        default=False, help_text="The members of the owner's teams see and apply it."
    )
    is_default = models.BooleanField(
        default=False, help_text="The owner's list opens with this view."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SavedViewQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["owner", "list_key", "name"], name="savedview_owner_list_name_uniq"
            ),
            models.UniqueConstraint(
                fields=["owner", "list_key"],
                condition=Q(is_default=True),
                name="savedview_one_default_per_list",
            ),
        ]
        indexes = [
            models.Index(
                fields=["list_key", "shared_with_team", "owner"], name="savedview_list_shared_idx"
            ),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return record_url("saved_view_edit", self.pk)

    def apply_query(self) -> str:
        """The list's query string that applies this view (its own, and which view it is)."""
        return f"{self.query}&view={self.pk}" if self.query else f"view={self.pk}"
