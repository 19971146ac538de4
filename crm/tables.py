"""Rows of the busiest list pages, written in Python (as ``support.tables`` does for tickets).

Fifty rows of eight to twelve cells through a row template cost a list page more than all its
queries together (each ``{{ object.x }}`` is a dictionary lookup that fails, then an attribute
lookup; each include, filter and tag a call through the template engine). A list view returns
the markup of its rows from ``FilteredListView.render_rows``, cell for cell what its row template
wrote, every value passing through ``escape``.
"""

from html import escape as _escape

from django.utils import timezone
from django.utils.html import conditional_escape
from django.utils.safestring import SafeData, mark_safe
from django.utils.text import Truncator

from crm.templatetags.quality import quality_badge


def e(value) -> str:
    """A value as HTML text (Django's ``escape``, without its lazy-string wrapper)."""
    return _escape(str(value))


def owner_text(user) -> str:
    """``{{ object.owner|default:"—" }}``."""
    return e(user) if user else "—"


def ymd(value) -> str:
    """``{{ value|date:"Y-m-d" }}``: a time in the current time zone, a date as it is; "" for
    none."""
    if not value:
        return ""
    if hasattr(value, "tzinfo") and timezone.is_aware(value):
        value = timezone.localtime(value)
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


def custom_cells(row) -> str:
    """``crm/_custom_cells.html``: the row's custom field cells (``custom_cells``)."""
    cells = []
    for field, value in getattr(row, "custom_cells", ()):
        text = value or "—"
        short = Truncator(text).chars(80)
        if isinstance(text, SafeData):
            short = mark_safe(short)
        css = " text-end" if field.kind in ("number", "money") else ""
        cells.append(
            f'<td class="small{css}" data-custom-field="{e(field.key)}">'
            f"{conditional_escape(short)}</td>"
        )
    return "".join(cells) + "\n"


def bulk_checkbox(pk, label: str) -> str:
    """The bulk bar's tick box of a row (``label``: escaped already)."""
    return (
        f'<td><input class="form-check-input" type="checkbox" name="ids" value="{int(pk)}" '
        f'form="bulk-form" aria-label="Select {label}"></td>'
    )


def contact_rows(contacts, *, bulk: bool, custom: bool) -> str:
    """The contact list's rows (``ContactListView.columns``)."""
    parts = []
    for contact in contacts:
        name = e(contact.full_name)
        email = e(contact.email)
        mail_link = f'<a href="mailto:{email}">{email}</a>' if contact.email else ""
        account = contact.account
        account_link = (
            f'<a href="{e(account.get_absolute_url())}">{e(account.name)}</a>' if account else ""
        )
        parts.append(
            "<tr>\n"
            f"  {bulk_checkbox(contact.pk, name) if bulk else ''}\n"
            f'  <td><a href="{e(contact.get_absolute_url())}">{name}</a></td>\n'
            f"  <td>{mail_link}</td>\n"
            f'  <td class="small">{e(contact.phone)}</td>\n'
            f'  <td class="small">{e(contact.title)}</td>\n'
            f"  <td>{account_link}</td>\n"
            f"  <td>{owner_text(contact.owner)}</td>\n"
            f'  <td class="text-end">{quality_badge(contact.quality)}</td>\n'
            f'  <td class="small">{ymd(contact.created_at)}</td>\n'
            f"  {custom_cells(contact) if custom else ''}\n"
            "</tr>\n"
        )
    return mark_safe("".join(parts))
