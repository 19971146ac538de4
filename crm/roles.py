"""The four roles as Django groups, with the model permissions each holds.

Each app's data migration calls ``grant_role_permissions`` for its own models, so the admin
and permission checks follow DESIGN.md's table. Which rows a user sees is decided by the models'
``visible_to`` querysets, not by these permissions.
"""

from django.contrib.auth.management import create_permissions

from crm.choices import Role

ALL = ("view", "add", "change", "delete")


def grant_role_permissions(apps, app_label: str, grants: dict[str, dict[str, tuple[str, ...]]]):
    """``grants``: role name → model name → actions. Admin always gets every permission."""
    from django.apps import apps as global_apps

    create_permissions(global_apps.get_app_config(app_label), verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role in Role.values:
        Group.objects.get_or_create(name=role)
    admin = Group.objects.get(name=Role.ADMIN)
    admin.permissions.add(*Permission.objects.filter(content_type__app_label=app_label))
    for role, models in grants.items():
        group = Group.objects.get(name=role)
        codenames = [f"{action}_{model}" for model, actions in models.items() for action in actions]
        group.permissions.add(
            *Permission.objects.filter(content_type__app_label=app_label, codename__in=codenames)
        )
