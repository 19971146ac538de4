from django.urls import reverse
from django.utils.functional import cached_property

from crm import registry
from crm.choices import Role
from crm.permissions import may_manage, may_sell


def navigation(request):
    """The navigation by role, so nobody sees links that would answer 404: the user's menus
    (one per job), the entry of the current page marked, and the kinds of record they may
    create (the "n" shortcut)."""
    user = getattr(request, "user", None)
    if not user or not user.is_authenticated:
        return {}
    groups = [
        (group, [(item, reverse(item.url_name)) for item in items])
        for group, items in registry.navigation.groups_for(user)
    ]
    current = _current_url(request.path, [url for _, links in groups for _, url in links])
    new_records = [
        (item, reverse(item.url_name), reverse(item.list_url_name))
        for item in registry.navigation.new_for(user)
    ]
    return {
        "nav_roles": sorted(user.role_names),
        "nav_groups": [
            {
                "key": group.key,
                "label": group.label,
                "active": any(url == current for _, url in links),
                "items": [
                    {"label": item.label, "url": url, "active": url == current}
                    for item, url in links
                ],
            }
            for group, links in groups
        ],
        "nav_new": [{"label": item.label, "url": url} for item, url, _ in new_records],
        "nav_new_here": _new_here(request.path, new_records),
        "is_admin_role": Role.ADMIN in user.role_names,
        "is_manager": Role.MANAGER in user.role_names,
        # crm.permissions' predicates, for templates that show an action only to who may take it.
        "may_sell": may_sell(user),
        "may_manage": may_manage(user),
        "bell": UnreadBell(user),
    }


class UnreadBell:
    """The bell's unread count, counted (one query) only when a page's top bar shows it, so an
    HTMX partial rendered with this context costs nothing."""

    def __init__(self, user):
        self.user = user

    @cached_property
    def count(self) -> int:
        from crm.selectors import notification_unread_count

        return notification_unread_count(user=self.user)

    @property
    def label(self) -> str:
        from crm.selectors import UNREAD_COUNT_CAP

        return f"{UNREAD_COUNT_CAP - 1}+" if self.count >= UNREAD_COUNT_CAP else str(self.count)


def _current_url(path: str, urls: list[str]) -> str:
    """The entry the page belongs to: the longest entry URL the path starts with."""
    matches = [url for url in urls if url != "/" and path.startswith(url)]
    return max(matches, key=len, default="")


def _new_here(path: str, new_records) -> str:
    """The form "n" opens on this page: the new-record form of the list the path is under."""
    matches = [(list_url, url) for _, url, list_url in new_records if path.startswith(list_url)]
    return max(matches, key=lambda match: len(match[0]), default=("", ""))[1]
