from django.urls import reverse

from crm import registry
from crm.choices import Role
from crm.permissions import may_manage, may_sell


def navigation(request):
    """The navigation by role, so nobody sees links that would answer 404."""
    user = getattr(request, "user", None)
    if not user or not user.is_authenticated:
        return {}
    items = registry.navigation.for_user(user)
    menus: dict[str, list[dict]] = {}
    for item in items:
        if item.menu:
            menus.setdefault(item.menu, []).append(
                {"label": item.label, "url": reverse(item.url_name)}
            )
    return {
        "nav_roles": sorted(user.role_names),
        "nav_items": [
            {"label": item.label, "url": reverse(item.url_name)} for item in items if not item.menu
        ],
        "nav_menus": [{"label": label, "items": links} for label, links in menus.items()],
        "is_admin_role": Role.ADMIN in user.role_names,
        "is_manager": Role.MANAGER in user.role_names,
        # crm.permissions' predicates, for templates that show an action only to who may take it.
        "may_sell": may_sell(user),
        "may_manage": may_manage(user),
    }
