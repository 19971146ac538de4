import functools

from django.urls import get_script_prefix, get_urlconf, reverse
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
    menus = _menus(user.role_names, registry.navigation.version, get_script_prefix(), get_urlconf())
    current = _current_url(request.path, menus.urls)
    return {
        # The role set's menus and the entry of this page: the top bar (``{% navigation_bar %}``)
        # is written from them.
        "nav_menus": menus,
        "nav_current": current,
        "nav_roles": menus.roles,
        "nav_groups": menus.groups_marked(current),
        "nav_new": menus.new_links,
        "nav_new_here": _new_here(request.path, menus.new),
        "is_admin_role": Role.ADMIN in user.role_names,
        "is_manager": Role.MANAGER in user.role_names,
        # crm.permissions' predicates, for templates that show an action only to who may take it.
        "may_sell": may_sell(user),
        "may_manage": may_manage(user),
        "bell": UnreadBell(user),
        # What the top bar's search box shows: the page's own search words, if any.
        "nav_search_q": request.GET.get("q", ""),
    }


class _Menus:
    """One role set's menus with their addresses, reversed once (not on every page), and the
    markup written from them (``crm.templatetags.navigation``), kept by what else it depends
    on. Nothing in it comes from a user: a role set's menus are the same for every user."""

    #: Markup and marked menus kept per role set: past this many, all are written again.
    KEPT = 128

    def __init__(self, role_names: frozenset[str]):
        holder = _RoleHolder(role_names)
        self.roles = sorted(role_names)
        self.groups = [
            (group.key, group.label, [(item.label, reverse(item.url_name)) for item in items])
            for group, items in registry.navigation.groups_for(holder)
        ]
        self.urls = [url for _, _, links in self.groups for _, url in links]
        self.new = [
            (item.label, reverse(item.url_name), reverse(item.list_url_name))
            for item in registry.navigation.new_for(holder)
        ]
        self.new_links = [{"label": label, "url": url} for label, url, _ in self.new]
        self._marked: dict[str, list[dict]] = {}
        self.markup: dict[tuple, str] = {}

    def groups_marked(self, current: str) -> list[dict]:
        """The menus with the entry ``current`` (and its menu) marked active."""
        groups = self._marked.get(current)
        if groups is None:
            if len(self._marked) >= self.KEPT:
                self._marked.clear()
            groups = self._marked[current] = [
                {
                    "key": key,
                    "label": label,
                    "active": any(url == current for _, url in links),
                    "items": [
                        {"label": label, "url": url, "active": url == current}
                        for label, url in links
                    ],
                }
                for key, label, links in self.groups
            ]
        return groups

    def kept_markup(self, key: tuple, write) -> str:
        """The markup ``write()`` returns for ``key``, written once."""
        markup = self.markup.get(key)
        if markup is None:
            if len(self.markup) >= self.KEPT:
                self.markup.clear()
            markup = self.markup[key] = write()
        return markup


class _RoleHolder:
    """What the navigation registry reads of a user: the role names."""

    def __init__(self, role_names: frozenset[str]):
        self.role_names = role_names
        self.has_any_role = bool(role_names)


@functools.lru_cache(maxsize=64)
def _menus(role_names: frozenset[str], version: int, script_prefix: str, urlconf) -> _Menus:
    """The menus of a role set: they depend on nothing else (the registry is filled at start-up,
    ``version`` changes with each registration; the addresses follow the URL configuration)."""
    return _Menus(role_names)


class UnreadBell:
    """The bell's unread count: read with the signed-in user (``crm.auth.backends``), or else
    counted (one query) only when a page's top bar shows it."""

    def __init__(self, user):
        self.user = user

    @cached_property
    def count(self) -> int:
        from crm.selectors import notification_unread_count

        loaded = getattr(self.user, "loaded_unread_count", None)
        return loaded if loaded is not None else notification_unread_count(user=self.user)

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
