"""The one place that turns DESIGN.md's roles table into querysets.

Every customer-data model's ``visible_to(user)`` / ``changeable_by(user)`` is built from these.
"""

from django.db import models


def owner_scope(queryset: models.QuerySet, user, field: str = "owner") -> models.QuerySet:
    """Rows owned by what ``user`` may act on: all for admins, their teams for managers, own else.

    Users with no role get nothing.
    """
    if not getattr(user, "is_authenticated", False) or not user.has_any_role:
        return queryset.none()
    if user.is_admin_role:
        return queryset
    if user.is_manager:
        return queryset.filter(**{f"{field}_id__in": user.managed_user_ids})
    return queryset.filter(**{f"{field}_id": user.pk})


def owner_in_scope(user, owner_id) -> bool:
    """The same rule as ``owner_scope``, for one record already in hand (no query)."""
    if not getattr(user, "is_authenticated", False) or not user.has_any_role:
        return False
    if user.is_admin_role:
        return True
    if user.is_manager:
        return owner_id in user.managed_user_ids
    return owner_id == user.pk


def any_role(queryset: models.QuerySet, user) -> models.QuerySet:
    """Every row for anyone holding a role (accounts and contacts are shared reading)."""
    if not getattr(user, "is_authenticated", False) or not user.has_any_role:
        return queryset.none()
    return queryset


def changeable(user, obj) -> bool:
    """Whether ``obj`` is among the rows its model's ``changeable_by(user)`` gives (one query),
    for a rule about one record already in hand."""
    return type(obj).objects.changeable_by(user).filter(pk=obj.pk).exists()
