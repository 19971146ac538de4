from functools import cached_property

import pghistory
from django.contrib.auth.models import AbstractUser
from django.db import models

from crm.choices import Role
from crm.models.history import FieldEvent


class User(AbstractUser):
    """A person who works in the CRM: a sales rep, support agent, manager or admin.

    Roles are Django groups; a user may hold several. The role and team lookups below are cached
    for the life of the object, which for ``request.user`` is one request: the signed-in user is
    read with their role names in the same query (``crm.auth.backends``), so a role given or
    taken applies from the user's next request.
    """

    email_signature = models.TextField(
        blank=True, help_text="Ends the emails written in the CRM ({{ user.signature }})."
    )

    class Meta:
        ordering = ["username"]

    def __str__(self):
        return self.get_full_name() or self.username

    @cached_property
    def role_names(self) -> frozenset[str]:
        if not self.is_active:
            return frozenset()
        # Read with the signed-in user (``crm.auth.backends``), or else now.
        loaded = self.__dict__.get("loaded_role_names")
        names = set(loaded if loaded is not None else self.groups.values_list("name", flat=True))
        if self.is_superuser:
            names.add(Role.ADMIN)
        return frozenset(names)

    def has_role(self, *roles: str) -> bool:
        return bool(self.role_names.intersection(roles))

    @property
    def is_admin_role(self) -> bool:
        return self.has_role(Role.ADMIN)

    @property
    def is_manager(self) -> bool:
        return self.has_role(Role.MANAGER)

    @property
    def is_sales_rep(self) -> bool:
        return self.has_role(Role.SALES_REP)

    @property
    def is_support_agent(self) -> bool:
        return self.has_role(Role.SUPPORT_AGENT)

    @property
    def has_any_role(self) -> bool:
        return bool(self.role_names)

    @cached_property
    def managed_user_ids(self) -> frozenset[int]:
        """This user and every member of the teams they manage (for managers; else just self),
        kept in the catalog (``crm.catalog``: teams and roles are of it)."""
        from crm import catalog

        if not self.is_manager:
            return frozenset({self.pk})
        return catalog.read(self, ("managed-user-ids", self.pk), self._managed_user_ids)

    def _managed_user_ids(self) -> frozenset[int]:
        members = Team.members.through.objects.filter(team__managers=self)
        return frozenset({self.pk, *members.values_list("user_id", flat=True)})


class Team(models.Model):
    """A group of users (a sales team, a support queue's agents) led by one or more managers."""

    name = models.CharField(max_length=100, unique=True)
    members = models.ManyToManyField(User, related_name="teams", blank=True)
    managers = models.ManyToManyField(User, related_name="managed_teams", blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name


#: Role changes: a row each time a user is given (``insert``) or loses (``delete``) a role,
#: written by a trigger on the user ↔ group table, so changes made in Django admin, by the
#: people pages or by a command are all kept (README, "Field history").
UserRoleEvent = pghistory.create_event_model(
    User.groups.through,
    pghistory.InsertEvent(),
    pghistory.DeleteEvent(),
    fields=["user", "group"],
    obj_field=None,
    base_model=FieldEvent,
    app_label="crm",
    model_name="UserRoleEvent",
    abstract=False,
    meta={"indexes": [models.Index(fields=["-pgh_created_at"], name="userrole_hist_at_idx")]},
)


def users_with_role():
    """Everyone who works in the CRM: active, with a role (who can own or be assigned records)."""
    return User.objects.filter(is_active=True, groups__isnull=False).distinct()
