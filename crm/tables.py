"""Rows of the busiest list pages, written in Python (as ``support.tables`` does for tickets).

Fifty rows of eight to twelve cells through a row template cost a list page more than all its
queries together (each ``{{ object.x }}`` is a dictionary lookup that fails, then an attribute
lookup; each include, filter and tag a call through the template engine). A list view returns
the markup of its rows from ``FilteredListView.render_rows``, cell for cell what its row template
wrote, every value passing through ``escape``. The home page's task rows are built the same
way (``task_row_maker``).
"""

import functools
import unicodedata
from html import escape as _escape

from django import forms
from django.conf import settings
from django.utils import timezone
from django.utils.formats import localize
from django.utils.html import conditional_escape
from django.utils.safestring import SafeData, mark_safe
from django.utils.text import Truncator
from django.utils.timezone import template_localtime

from crm import compiled
from crm.links import record_url_maker
from crm.templatetags.quality import quality_badge


def e(value) -> str:
    """A value as HTML text (Django's ``escape``, without its lazy-string wrapper)."""
    return _escape(str(value))


def owner_texts():
    """``{{ object.owner|default:"—" }}`` for the rows of one page (``row.owner``, by
    ``row.owner_id``): each owner's name is escaped once, a page has a few owners."""
    seen = {}

    def text(row) -> str:
        pk = row.owner_id
        if pk is None:
            return "—"
        shown = seen.get(pk)
        if shown is None:
            shown = seen[pk] = e(row.owner)
        return shown

    return text


def ymd(value, tz=None) -> str:
    """``{{ value|date:"Y-m-d" }}``: a time in the current time zone (``tz``, when the caller
    looked it up for a page), a date as it is; "" for none."""
    if not value:
        return ""
    if hasattr(value, "tzinfo") and timezone.is_aware(value):
        value = value.astimezone(tz or timezone.get_current_timezone())
    return f"{value.year:04d}-{value.month:02d}-{value.day:02d}"


@functools.lru_cache(maxsize=512)
def quality_badge_html(score) -> str:
    """``{% quality_badge score %}`` (a score is a whole number from 0 to 100, or None)."""
    return quality_badge(score)


def custom_cells(row) -> str:
    """``crm/_custom_cells.html``: the row's custom field cells (``custom_cells``)."""
    cells = []
    for field, value in getattr(row, "custom_cells", ()):
        text = value or "—"
        # ``Truncator.chars(80)``, which looks at each character: a text of 80 or fewer
        # (composed) characters is only composed.
        short = unicodedata.normalize("NFC", str(text))
        if len(short) > 80:
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
    tz = timezone.get_current_timezone()
    contact_url = record_url_maker("contact_detail")
    account_url = record_url_maker("account_detail")
    owner = owner_texts()
    for contact in contacts:
        name = e(contact.full_name)
        email = e(contact.email)
        mail_link = f'<a href="mailto:{email}">{email}</a>' if contact.email else ""
        account_link = ""
        if contact.account_id is not None:
            account = contact.account
            account_link = f'<a href="{e(account_url(account.pk))}">{e(account.name)}</a>'
        parts.append(
            "<tr>\n"
            f"  {bulk_checkbox(contact.pk, name) if bulk else ''}\n"
            f'  <td><a href="{e(contact_url(contact.pk))}">{name}</a></td>\n'
            f"  <td>{mail_link}</td>\n"
            f'  <td class="small">{e(contact.phone)}</td>\n'
            f'  <td class="small">{e(contact.title)}</td>\n'
            f"  <td>{account_link}</td>\n"
            f"  <td>{owner(contact)}</td>\n"
            f'  <td class="text-end">{quality_badge_html(contact.quality)}</td>\n'
            f'  <td class="small">{ymd(contact.created_at, tz)}</td>\n'
            f"  {custom_cells(contact) if custom else ''}\n"
            "</tr>\n"
        )
    return mark_safe("".join(parts))


def text(value) -> str:
    """``{{ value }}`` in a template: localized, escaped."""
    if type(value) is str:
        return _escape(value)
    if type(value) is int and not settings.USE_THOUSAND_SEPARATOR:
        return str(value)  # what localizing gives it (a key in an option, a count)
    return conditional_escape(localize(template_localtime(value)))


def _shown(value) -> str:
    """``{{ value|default:'' }}`` of a filter input (its text, escaped; "" for none)."""
    return text(value) if value else ""


def _with_classes(bound, classes: str) -> str:
    """``{% crispy_field field "class" classes %}``: the widget's class list gains the widget's
    own name and ``classes`` (as crispy-forms adds them, once), then the field renders as
    ``{{ field }}``."""
    widget = bound.field.widget
    for sub in getattr(widget, "widgets", [getattr(widget, "widget", widget)]):
        own = type(sub).__name__.lower()
        css = sub.attrs.get("class", "")
        if css:
            if css.find(own) == -1:
                css += f" {own}"
        else:
            css = own
        for name in classes.split():
            if name not in css.split():
                css += f" {name}"
        sub.attrs["class"] = css
    return conditional_escape(str(bound))


def _range_inputs(bound, label: str, invalid: str, *, number: bool) -> str:
    """The two inputs of a date or number range (``filter_bar.date_range_inputs``)."""
    subwidgets = bound.field.widget.get_context(bound.html_name, bound.value(), {})["widget"][
        "subwidgets"
    ]
    inputs = []
    for n, sub in enumerate(subwidgets):
        side = "from" if n == 0 else "to"
        kind = 'number" step="any' if number else "date"
        placeholder = f' placeholder="{side}"' if number else ""
        inputs.append(
            f'<input type="{kind}" class="form-control form-control-sm{invalid}" '
            f'name="{conditional_escape(sub["name"])}" value="{_shown(sub["value"])}" '
            f'aria-label="{label} {side}"{placeholder}>'
        )
    return f'\n      <div class="d-flex gap-1">{"".join(inputs)}</div>\n      '


def filter_fields(form, *, search_placeholder: str = "Search…") -> str:
    """A list's filter bar, field by field (``{% filter_fields %}`` of ``crm/list.html``):
    the search box, date and number ranges as their two inputs, selects and other inputs with
    Bootstrap's classes, each field's errors under it. Hidden fields as they render."""
    from django_filters.widgets import DateRangeWidget, RangeWidget

    parts = []
    for bound in form:
        parts.append("\n    ")
        if bound.is_hidden:
            parts.append(conditional_escape(str(bound)))
            parts.append("\n  ")
            continue
        errors = bound.errors
        invalid = " is-invalid" if errors else ""
        label = conditional_escape(bound.label)
        auto_id = conditional_escape(bound.auto_id)
        widget = bound.field.widget
        if bound.name == "q":
            control = (
                f'\n      <input type="search" class="form-control form-control-sm{invalid}" '
                f'name="q" id="{auto_id}" value="{_shown(bound.value())}" '
                f'placeholder="{e(search_placeholder)}">\n      '
            )
        elif isinstance(widget, DateRangeWidget):
            control = _range_inputs(bound, label, invalid, number=False)
        elif isinstance(widget, RangeWidget):
            control = _range_inputs(bound, label, invalid, number=True)
        else:
            if isinstance(widget, forms.Select):
                classes = "form-select form-select-sm"
            elif isinstance(widget, forms.CheckboxInput):
                classes = "form-check-input"
            else:
                classes = "form-control form-control-sm"
            control = f"\n      {_with_classes(bound, classes)}\n      "
        shown_errors = "".join(
            f'<div class="invalid-feedback d-block">{conditional_escape(error)}</div>'
            for error in errors
        )
        parts.append(
            '\n    <div class="col-auto">\n'
            f'      <label class="form-label small mb-0" for="{auto_id}">{label}</label>\n'
            f"      {control}\n"
            f"      {shown_errors}\n"
            "    </div>\n    \n  "
        )
    return mark_safe("".join(parts))


def column_headers(columns, *, current_sort: str, query: str) -> str:
    """The list table's header cells (``crm/_list_table.html``): a sortable column links to
    its sort, the other way round when the list is sorted by it (▲ or ▼ saying which way)."""
    query = conditional_escape(query)
    joined = f"?{query}&" if query else "?"
    parts = []
    for column in columns:
        label = conditional_escape(column.label)
        inner = label
        if column.sort:
            key = conditional_escape(column.sort)
            if current_sort == column.sort:
                sort, label, after = f"-{key}", f"{label} ▲", "\n      "
            elif current_sort == f"-{column.sort}":
                sort, label, after = key, f"{label} ▼", "\n      "
            else:
                sort, after = key, ""
            inner = (
                f'\n      <a href="{joined}sort={sort}" hx-get="{joined}sort={sort}" '
                f'hx-target="#list-table" hx-push-url="true">{label}</a>{after}\n    '
            )
        parts.append(f'\n    <th class="{conditional_escape(column.css)}">{inner}</th>\n  ')
    return mark_safe("".join(parts))


def list_pager(*, page, links, query: str, page_sizes, per_page, size_query: str) -> str:
    """The pager under a list table (``crm/_list_table.html``): which rows of how many, the
    page links (``crm.views.lists.page_links``) and the choice of rows a page."""
    from django.contrib.humanize.templatetags.humanize import intcomma

    def number(value) -> str:
        return conditional_escape(intcomma(value))

    if page.object_list:
        # Asked before the count, as the template did (the count may find it an estimate).
        about = "about " if page.paginator.count_is_estimate else ""
        shown = (
            f"{number(page.start_index())}–{number(page.end_index())} of "
            f"{about}{number(page.paginator.count)}"
        )
    else:
        shown = "0 rows"
    parts = [f'<span class="small text-body-secondary">\n    {shown}\n  </span>\n  ']
    query = conditional_escape(query)
    at = f"?{query}&page=" if query else "?page="

    def item(to, text: str, extra: str, css: str = "") -> str:
        return (
            f'<li class="page-item{css}"><a class="page-link" href="{at}{to}" hx-get="{at}{to}" '
            f'hx-target="#list-table" hx-push-url="true" {extra}>{text}</a></li>'
        )

    previous, following = links.previous, links.next
    if previous or following or links.first:
        parts.append('\n  <ul class="pagination pagination-sm flex-wrap mb-0">\n    ')
        if links.first:
            parts.append(item(1, "« First", 'aria-label="First page"'))
        parts.append("\n    ")
        if previous:
            parts.append(item(previous, "‹ Previous", 'rel="prev"'))
        parts.append("\n    ")
        for n in links.numbers:
            if n == links.current:
                parts.append(
                    '\n    <li class="page-item active" aria-current="page"><span class="page-link">'
                    f"{number(n)}</span></li>\n    \n    "
                )
            else:
                aside = (previous is not None and n < previous) or (
                    following is not None and n > following
                )
                css = " d-none d-sm-block" if aside else ""
                label = f'aria-label="Page {n}"'
                parts.append(f"\n    {item(n, number(n), label, css)}\n    ")
        parts.append("\n    ")
        if following:
            parts.append(item(following, "Next ›", 'rel="next"'))
        parts.append("\n    ")
        if links.last:
            parts.append(item(links.last, "Last »", 'aria-label="Last page"'))
        parts.append("\n  </ul>\n  ")
    parts.append("\n  ")
    if page_sizes:
        size_query = conditional_escape(size_query)
        sized = f"?{size_query}&per_page=" if size_query else "?per_page="
        parts.append(
            '<div class="btn-group btn-group-sm" role="group" aria-label="Rows per page">\n    '
        )
        for size in page_sizes:
            if size == per_page:
                parts.append(
                    f'<span class="btn btn-outline-secondary active" aria-current="true">{size}</span>'
                )
            else:
                parts.append(
                    f'<a class="btn btn-outline-secondary" href="{sized}{size}" '
                    f'hx-get="{sized}{size}" hx-target="#list-table" hx-push-url="true" '
                    f'title="{size} rows a page">{size}</a>'
                )
        parts.append(
            '\n  </div><span class="small text-body-secondary d-none d-md-inline">a page</span>'
        )
    return mark_safe("".join(parts))


def saved_view_columns(columns) -> str:
    """The column tick boxes of the "Save current view" form (``crm/_saved_views.html``):
    ``(key, label, shown)`` of each column a view may hide."""
    parts = []
    for key, label, shown in columns:
        key = conditional_escape(key)
        checked = " checked" if shown else ""
        parts.append(
            '\n          <div class="form-check form-check-inline small">'
            '<input class="form-check-input" type="checkbox" name="columns" '
            f'value="{key}" id="saved-view-col-{key}"{checked}>'
            f'<label class="form-check-label" for="saved-view-col-{key}">'
            f"{conditional_escape(label)}</label></div>\n          "
        )
    return mark_safe("".join(parts))


def options(choices) -> str:
    """``<option value="{{ value }}">{{ label }}</option>`` of each ``(value, label)``."""
    return mark_safe(
        "".join(f'<option value="{text(value)}">{text(label)}</option>' for value, label in choices)
    )


def task_row_maker(request, now):
    """The home page's rows of open tasks: ``row(task)`` is ``crm/_task_row.html`` for a task
    whose ``subject`` is loaded. A home page lists up to 40 tasks, and the row's template (an
    include, four links reversed, a form) cost more than the rest of the block. What is the same
    for every row (the form's token, the address to come back to, the links' patterns) is read
    once; every text put in is escaped."""
    from django.middleware.csrf import get_token

    from crm.views.submissions import SUBMISSION_FIELD, new_submission_key

    csrf = e(get_token(request))
    next_path = e(request.get_full_path())
    toggle_url = record_url_maker("task_toggle")
    edit_url = record_url_maker("task_edit")

    def row(task) -> str:
        pk = int(task.pk)
        toggle = e(toggle_url(pk))
        title = e(task.title)
        subject = compiled.loaded(task, "subject")
        subject_link = (
            f'<a href="{e(subject.get_absolute_url())}">{e(subject)}</a>' if subject else ""
        )
        overdue = " overdue" if task.due_at < now else ""
        due = timezone.localtime(task.due_at).strftime("%Y-%m-%d %H:%M")
        return mark_safe(
            f'<tr id="task-{pk}">\n'
            f'  <td><form method="post" action="{toggle}" hx-post="{toggle}" '
            f'hx-target="#task-{pk}" hx-swap="outerHTML">'
            f'<input type="hidden" name="csrfmiddlewaretoken" value="{csrf}">'
            f'<input type="hidden" name="{SUBMISSION_FIELD}" value="{new_submission_key()}">'
            f'<input type="hidden" name="next" value="{next_path}">\n'
            '    <button class="btn btn-sm btn-outline-secondary" type="submit" '
            f'title="Mark done" aria-label="Mark done {title}">✓</button></form></td>\n'
            f'  <td><a href="{e(edit_url(pk))}">{title}</a></td>\n'
            f"  <td>{subject_link}</td>\n"
            f'  <td class="small">{e(task.assignee)}</td>\n'
            f'  <td class="small{overdue}">{due}</td>\n'
            "</tr>"
        )

    return row


def recent_activity_row(entry) -> str:
    """The home page's line of one recent timeline entry (``entry.subject`` loaded): its kind,
    time and author, a link to the record it is about, and its summary. Rendered through the
    block's template these 15 lines took 2.4 ms, more than the rest of the block; every text put
    in is escaped."""
    subject = compiled.loaded(entry, "subject")
    link = f'<a href="{e(subject.get_absolute_url())}">{e(subject)}</a>: ' if subject else ""
    return mark_safe(
        '<li class="list-group-item">\n'
        f"    {_entry_head(entry)}\n"
        f"    {link}{e(entry.summary)}\n"
        "  </li>"
    )


def _entry_head(entry) -> str:
    """A timeline entry's head line, escaped: its kind, time and author."""
    when = timezone.localtime(entry.occurred_at)
    actor = f" · {e(entry.actor)}" if entry.actor_id is not None else ""
    return (
        f'<div class="small text-body-secondary">{e(entry.get_kind_display())} · '
        f'<time datetime="{when.isoformat()}">{when:%Y-%m-%d %H:%M}</time>{actor}</div>'
    )


def timeline_entry_lines(entry) -> tuple[str, str]:
    """A timeline entry's markup around its email's status (``crm/_timeline_entries.html``):
    its kind, time and author, its summary (a link to the stored message it opens, for an email
    read from a mailbox), and its details. Through the template these took about 30 µs an
    entry, 0.6 ms for a page of the timeline; every text put in is escaped."""
    summary = e(entry.summary)
    mail_url = getattr(entry, "mail_url", None)
    if mail_url:
        summary = f'<a href="{e(mail_url)}">{summary}</a>'
    head = f"{_entry_head(entry)}\n  <div>{summary}</div>"
    tail = f'<div class="small text-pre-line">{e(entry.body)}</div>' if entry.body else ""
    return mark_safe(head), mark_safe(tail)


def account_contact_line(contact) -> str:
    """A line of the account page's contacts: the contact's name linking to its page, its title
    and email. Up to 25 lines a page, each about 15 µs through the template; every text put in
    is escaped."""
    email = f" · {e(contact.email)}" if contact.email else ""
    return mark_safe(
        f'<li class="list-group-item"><a href="{e(contact.get_absolute_url())}">'
        f"{e(contact.full_name)}</a> "
        f'<span class="small text-body-secondary">{e(contact.title)}{email}</span></li>'
    )
