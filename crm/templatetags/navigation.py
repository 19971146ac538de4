"""``{% navigation_bar %}`` and ``{% new_record_dialog %}``: the top bar and the new-record
chooser of every signed-in page, from ``crm/_navbar.html`` and ``crm/_shortcuts.html``.

Rendering the bar's menus through the template engine cost every page thousands of Python calls
for markup that is the same for everyone holding the same roles. So each template is rendered
once per role set (``crm.context_processors``) and what else it reads: the page's menu entry,
whether it is the home page, staff or not, unread or not. What belongs to the user or the
request (the search words, the user's name, the unread label, the CSRF token) is rendered as a
numbered slot and filled in on each page by ``format_html``, which escapes it as the template
would have. Role changes apply from the next request: the roles are read with the user."""

from django import template
from django.template.loader import get_template
from django.utils.html import format_html

register = template.Library()

#: The values filled in on each page, by slot number.
SEARCH, NAME, UNREAD_LABEL, CSRF = range(4)


def _slot(number: int) -> str:
    return f"\x00{number}\x00"


def _with_slots(rendered: str) -> str:
    """``rendered`` as a ``format_html`` format: its braces doubled, its slots numbered fields."""
    text = rendered.replace("{", "{{").replace("}", "}}")
    for number in (SEARCH, NAME, UNREAD_LABEL, CSRF):
        text = text.replace(_slot(number), f"{{{number}}}")
    if "\x00" in text:
        raise ValueError("a navigation slot was changed by the template")
    return text


class _Path:
    def __init__(self, path: str):
        self.path = path


class _UserView:
    """What ``crm/_navbar.html`` reads of the user: the flags it is rendered for, the name as a
    slot."""

    def __init__(self, *, is_staff: bool, role_names: frozenset[str]):
        from crm.choices import Role

        self.is_staff = is_staff
        self.is_manager = Role.MANAGER in role_names
        self.is_admin_role = Role.ADMIN in role_names
        self.username = _slot(NAME)

    def get_full_name(self) -> str:
        return _slot(NAME)


@register.simple_tag(takes_context=True)
def navigation_bar(context):
    request, user, bell = context["request"], context["user"], context["bell"]
    menus, current = context["nav_menus"], context["nav_current"]
    is_home = request.path == "/"
    unread = bool(bell.count)
    token = context.get("csrf_token")
    has_token = bool(token) and token != "NOTPROVIDED"
    is_admin_role = context["is_admin_role"]
    key = (
        "bar",
        current,
        is_home,
        user.is_staff,
        user.role_names,
        is_admin_role,
        unread,
        has_token,
    )

    def write():
        view = _UserView(is_staff=user.is_staff, role_names=user.role_names)
        rendered = get_template("crm/_navbar.html").render(
            {
                "request": _Path("/" if is_home else ""),
                "user": view,
                "nav_groups": menus.groups_marked(current),
                "nav_roles": menus.roles,
                "is_admin_role": is_admin_role,
                "nav_search_q": _slot(SEARCH),
                "bell": {"count": int(unread), "label": _slot(UNREAD_LABEL)},
                "csrf_token": _slot(CSRF) if has_token else None,
            }
        )
        return _with_slots(rendered)

    return format_html(
        menus.kept_markup(key, write),
        context["nav_search_q"],
        user.get_full_name() or user.username,
        bell.label,
        token if has_token else "",
    )


@register.simple_tag(takes_context=True)
def new_record_dialog(context):
    menus, here = context["nav_menus"], context["nav_new_here"]
    return menus.kept_markup(
        ("new", here),
        lambda: get_template("crm/_shortcuts.html").render(
            {"nav_new": menus.new_links, "nav_new_here": here}
        ),
    )
