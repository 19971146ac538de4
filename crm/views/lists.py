"""The one list view every app's list pages are made of.

A list page is the rows of the entity's list selector (``<entity>_list(*, user)``, see
``crm.selectors``), a FilterSet (whose form is the filter bar), a whitelist of sortable columns,
and a row template. HTMX requests (filtering,
sorting, paging) get only the table back. A list whose entity is a registered record kind
(``record_kind``, see ``crm.tabular``) also answers ``?export=csv`` and ``?export=xlsx`` with
exactly the rows it shows: the same selector, filters and sort, every page.

Paging: numbered page links around the current page (``page_links``), the last page only when
the count is exact, and ``?per_page=`` choosing among ``PAGE_SIZES``.

Custom fields (``custom_entity``): each field of that kind of record the user may see and that
admins show in lists becomes a column after the list's own (its cells from the row template's
``crm/_custom_cells.html``), sortable, and one a saved view may hide; the FilterSet adds their
filters (``crm.custom_fields.filters``). The definitions are read once per page.

Saved views (``crm.models.SavedView``): a list shows the user's views and their teams' shared
ones (one query), ``?view=<id>`` marks which is applied and hides the columns it hides (by
their position, with the ``hide-col-N`` classes of ``app.css``, so every row template keeps
rendering every cell), and a list opened with no query string goes to the user's default view.
"""

from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from django.conf import settings
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.paginator import InvalidPage
from django.http import Http404, HttpResponseRedirect
from django.utils.text import slugify
from django.views.generic import ListView

from crm.pagination import EstimatedCountPaginator

#: The page sizes a list offers (``?per_page=``); anything else falls back to the view's default.
PAGE_SIZES = (25, 50, 100)
#: Query parameters that shape the page, not the rows: they do not make a list "filtered".
NOT_FILTERS = frozenset({"page", "per_page", "sort", "export", "view"})


@dataclass(frozen=True)
class Column:
    """A table column; ``sort`` is the ``?sort=`` key when the column is sortable; ``key``
    names it in saved views (by default its label, slugified; a column without a label, such
    as the tick boxes, is always shown)."""

    label: str
    sort: str | None = None
    css: str = ""
    key: str = ""

    @property
    def name(self) -> str:
        return self.key or slugify(self.label)


def choosable_columns(columns) -> list[tuple[str, str]]:
    """``(key, label)`` of the columns a saved view may hide."""
    return [(column.name, column.label) for column in columns if column.name]


@dataclass
class SavedViewMenu:
    """The "Views" menu of a list page: the user's views, their teams' shared ones, the one
    applied (if any), and the list's columns with whether each is shown."""

    mine: list
    team: list
    active: object | None
    columns: list  # (key, label, shown)
    query: str  # the list's current query string, as a view keeps it
    changed: bool  # the filters or sort differ from the applied view's


@dataclass(frozen=True)
class PageLinks:
    """The page numbers a list's pager shows around ``current``."""

    current: int
    numbers: list[int] = field(default_factory=list)
    previous: int | None = None
    next: int | None = None
    first: bool = False  # a separate link to page 1 (it is not among ``numbers``)
    last: int | None = None  # a separate link to the last page: only when the count is exact


def page_links(page, *, window: int = 2) -> PageLinks:
    """Numbers from ``window`` pages before the current one to ``window`` after it.

    Pages after the current one are offered while they exist: the next one when the page's
    look-ahead row says so, further ones by the count (an estimate on big tables, so the last
    page is linked only when the count is exact). A page past the end links back to the first.
    """
    number = page.number
    if not page.object_list:
        return PageLinks(current=number, first=number > 1)
    paginator = page.paginator
    known_last = paginator.num_pages
    after = number + 1 if page.has_next() else number
    if page.has_next():
        after = max(after, min(number + window, known_last))
    numbers = list(range(max(1, number - window), after + 1))
    last = None
    if not paginator.count_is_estimate and known_last > numbers[-1]:
        last = known_last
    return PageLinks(
        current=number,
        numbers=numbers,
        previous=number - 1 if number > 1 else None,
        next=number + 1 if page.has_next() else None,
        first=numbers[0] > 1,
        last=last,
    )


def is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true" and not request.headers.get("HX-Boosted")


class FilteredListView(LoginRequiredMixin, ListView):
    list_selector = None  # the entity's ``<entity>_list``
    filterset_class = None
    columns: list[Column] = []
    # sort key → order_by fields; the first entry of ``default_sort`` is used when none is asked.
    sorts: dict[str, tuple[str, ...]] = {}
    default_sort = ""
    row_template = ""
    title = ""
    create_url_name = ""
    template_name = "crm/list.html"
    partial_template_name = "crm/_list_table.html"
    paginator_class = EstimatedCountPaginator
    paginate_by = settings.LIST_PAGE_SIZE
    record_kind = ""  # the ``crm.registry.tabular`` kind: export buttons and ``?export=``
    # What the rows are, for the empty state ("No leads yet"); empty: a neutral "Nothing…".
    empty_noun = ""
    # The empty state's text with no filters, when "No <noun> yet" would not be true (a queue).
    empty_text = ""
    show_quality = False  # a data-quality summary of the filtered rows (``crm.quality``)
    bulk_kind = ""  # the ``crm.registry.bulk`` kind: a checkbox a row and the bulk bar
    saved_views_enabled = True  # the "Views" menu (lists whose URL takes no arguments)
    active_view = None
    saved_view_choices = None
    # The ``crm.custom_fields`` kind of the rows: custom field columns (the row template ends
    # with ``{% include "crm/_custom_cells.html" %}``).
    custom_entity = ""
    custom_columns_list: list = []
    custom_sorts: dict = {}
    # The fields the rows of ``render_rows`` read (``relation__field`` for a joined record's):
    # a page reads only these of its rows (and ``custom`` with custom field columns).
    row_fields: tuple[str, ...] = ()

    @classmethod
    def custom_column(cls, field) -> Column:
        return Column(field.label, sort=f"cf_{field.key}", key=f"cf_{field.key}")

    @classmethod
    def columns_for(cls, user) -> list[Column]:
        """The list's columns as ``user`` sees them: its own, then its custom fields'."""
        if not cls.custom_entity:
            return list(cls.columns)
        from crm.custom_fields.definitions import fields_for

        shown = [f for f in fields_for(cls.custom_entity, user=user) if f.in_lists]
        return [*cls.columns, *(cls.custom_column(f) for f in shown)]

    def add_custom_columns(self) -> None:
        """Give this page its custom field columns and their sorts."""
        if not self.custom_entity:
            return
        from crm.custom_fields.definitions import fields_for_request

        fields = [f for f in fields_for_request(self.request, self.custom_entity) if f.in_lists]
        self.custom_columns_list = fields
        self.custom_sorts = {f"cf_{f.key}": f for f in fields}
        self.columns = [*type(self).columns, *(self.custom_column(f) for f in fields)]

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated:
            self.add_custom_columns()
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, *args, **kwargs):
        fmt = request.GET.get("export")
        kind = self.tabular_kind()
        if fmt and kind is not None:
            from crm.tabular.export import FORMATS, export_response

            if fmt not in FORMATS:
                raise Http404
            from crm.choices import AuditAction
            from crm.services.audit import audit_record

            audit_record(
                action=AuditAction.RECORDS_EXPORTED,
                actor=request.user,
                detail={"kind": kind.name, "format": fmt, "filters": request.GET.urlencode()},
                request=request,
            )
            return export_response(kind, self.get_queryset(), request.user, fmt)
        default_view = self.load_saved_views()
        if default_view is not None:
            return HttpResponseRedirect(f"{request.path}?{default_view.apply_query()}")
        return super().get(request, *args, **kwargs)

    def saved_view_key(self) -> str:
        """The list's key among saved views (its URL name); "" when it offers none."""
        match = self.request.resolver_match
        if not self.saved_views_enabled or match is None or match.args or match.kwargs:
            return ""
        return match.view_name

    def load_saved_views(self):
        """Read the views of this list the user may apply (one query; an HTMX request reads
        only the one applied) and note the applied one: a view of another list, or one the
        user may not see, answers 404. Returns the user's default view when the list was
        opened with no query string (the page then goes to it)."""
        from crm.selectors import saved_view_get, saved_view_list

        key = self.saved_view_key()
        if not key:
            return None
        from crm import catalog

        user, asked = self.request.user, self.request.GET.get("view", "")
        if is_htmx(self.request):
            if asked:
                self.active_view = saved_view_get(user=user, pk=asked, list_key=key)
            return None
        views = catalog.read(
            user,
            ("saved-views", key, user.pk, user.is_admin_role),
            lambda: list(saved_view_list(user=user, list_key=key).select_related("owner")),
        )
        self.saved_view_choices = views
        if not self.request.GET:
            return next((v for v in views if v.is_default and v.owner_id == user.pk), None)
        if asked:
            self.active_view = next((v for v in views if str(v.pk) == asked), None)
            if self.active_view is None:
                raise Http404
        return None

    def hidden_column_numbers(self, *, first: int = 1) -> list[int]:
        """The positions of the cells of the columns the applied view hides, the list's first
        column being cell ``first`` (2 after the bulk bar's checkbox)."""
        if self.active_view is None:
            return []
        hidden = set(self.active_view.hidden_columns)
        return [
            n
            for n, column in enumerate(self.columns, first)
            if column.name and column.name in hidden
        ]

    def _comparable(self, query: str) -> list:
        """A query string's filters and sort, in an order and form two of them compare by."""
        pairs = []
        for key, value in parse_qsl(query):
            if key in ("page", "export", "view") or not value.strip():
                continue
            if (key, value) in (("sort", self.default_sort), ("per_page", str(self.paginate_by))):
                continue
            pairs.append((key, value))
        return sorted(pairs)

    def saved_view_menu(self) -> SavedViewMenu | None:
        if self.saved_view_choices is None:
            return None
        from crm.services.saved_views import view_query

        user_pk = self.request.user.pk
        active = self.active_view
        hidden = set(active.hidden_columns) if active else set()
        query = view_query(self.request.GET)
        return SavedViewMenu(
            mine=[v for v in self.saved_view_choices if v.owner_id == user_pk],
            team=[v for v in self.saved_view_choices if v.owner_id != user_pk],
            active=active,
            columns=[
                (key, label, key not in hidden) for key, label in choosable_columns(self.columns)
            ],
            query=query,
            changed=bool(active) and self._comparable(active.query) != self._comparable(query),
        )

    def fill_custom_cells(self, rows) -> None:
        """Each row's ``custom_cells``: its custom field columns' values as text (the names of
        users and linked records read once for the page; users from the filter bar's choices
        when it read them and they name every user the rows hold)."""
        from crm.custom_fields.values import display, display_names
        from crm.models.custom_fields import CustomFieldKind

        fields = self.custom_columns_list
        people = getattr(self.request, "_custom_field_people", None)
        users = [f for f in fields if f.kind == CustomFieldKind.USER]
        held = {
            (f.key, pk)
            for f in users
            for row in rows
            if isinstance(pk := (row.custom or {}).get(f.key), int)
        }
        if people is not None and all(pk in people for _key, pk in held):
            names = {(key, pk): people[pk] for key, pk in held}
            names.update(display_names([f for f in fields if f not in users], rows))
        else:
            names = display_names(fields, rows)
        for row in rows:
            stored = getattr(row, "custom", None) or {}
            row.custom_cells = [
                (field, display(field, stored.get(field.key), names=names)) for field in fields
            ]

    def tabular_kind(self):
        from crm import registry

        return registry.tabular.get(self.record_kind) if self.record_kind else None

    def base_queryset(self):
        """The rows this user may see (from the list selector); a view adds the joins its row
        template needs."""
        return type(self).list_selector(user=self.request.user)

    def can_create(self) -> bool:
        return bool(self.create_url_name)

    def get_queryset(self):
        self.filterset = self.filterset_class(
            self.request.GET or None, queryset=self.base_queryset(), request=self.request
        )
        return self._ordered(self.filterset.qs)

    def current_sort(self) -> str:
        sort = self.request.GET.get("sort", "")
        key = sort.lstrip("-")
        if key in self.sorts or key in self.custom_sorts:
            return sort
        return self.default_sort

    def _ordered(self, queryset):
        if "search_rank" in queryset.query.annotations and not self.request.GET.get("sort"):
            return queryset.order_by("-search_rank", "-pk")
        sort = self.current_sort()
        custom = self.custom_sorts.get(sort.lstrip("-"))
        if custom is not None:
            from crm.custom_fields.query import order_expression

            descending = sort.startswith("-")
            return queryset.order_by(
                order_expression(custom, descending=descending), "-pk" if descending else "pk"
            )
        fields = self.sorts[sort.lstrip("-")]
        if sort.startswith("-"):
            fields = tuple(f[1:] if f.startswith("-") else f"-{f}" for f in fields)
        return queryset.order_by(*fields)

    def get_paginate_by(self, queryset):
        try:
            size = int(self.request.GET.get("per_page", ""))
        except ValueError:
            size = 0
        return size if size in PAGE_SIZES else self.paginate_by

    def is_filtered(self) -> bool:
        """Whether the rows are narrowed by the filter bar (an empty list then says so)."""
        return any(
            value.strip()
            for key, values in self.request.GET.lists()
            if key not in NOT_FILTERS
            for value in values
        )

    def empty_state(self, page) -> dict:
        """What an empty table says and links to: clear the filters, go back to the first page,
        or add the first row (and import some, where the user may)."""
        state = {"noun": self.empty_noun, "text": self.empty_text}
        if page.number > 1:
            state["past_end"] = True
        elif self.is_filtered():
            state["filtered"] = True
        elif not self.empty_text:
            state["create_url_name"] = self.create_url_name if self.can_create() else ""
            kind = self.tabular_kind()
            if kind is not None and kind.may_import(self.request.user):
                state["import_kind"] = kind.name
        return state

    def paginate_queryset(self, queryset, page_size):
        if self.row_fields and not self.row_template:
            custom = ("custom",) if self.custom_columns_list else ()
            queryset = queryset.only(*self.row_fields, *custom)
        paginator = self.get_paginator(queryset, page_size)
        try:
            page = paginator.page(self.request.GET.get("page") or 1)
        except InvalidPage:
            page = paginator.page(1)
        return paginator, page, page.object_list, True

    def get_template_names(self):
        return [self.partial_template_name] if is_htmx(self.request) else [self.template_name]

    def _kind_links(self):
        """The export and import links of the list's record kind, for the page header."""
        kind = self.tabular_kind()
        if kind is None:
            return None
        query = self.request.GET.copy()
        for name in ("page", "per_page", "export"):
            query.pop(name, None)
        return {
            "kind": kind,
            "query": query.urlencode(),
            "may_import": kind.may_import(self.request.user),
        }

    def render_rows(self, rows, *, bulk: bool) -> str | None:
        """The rows' markup written in Python (``crm.tables``: safe, every value escaped), or
        None to render each with ``row_template``; ``bulk``: whether each row starts with the
        bulk bar's tick box."""
        return None

    def bulk_context(self) -> dict:
        """The bulk bar and its form, when the list has bulk actions this user is offered."""
        from crm import registry
        from crm.bulk import BulkForm

        kind = registry.bulk.get(self.bulk_kind) if self.bulk_kind else None
        if kind is None or not kind.actions_for(self.request.user):
            return {}
        form = BulkForm(kind=kind, user=self.request.user)
        return {"bulk": kind, "bulk_form": form}

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("page", None)
        sort_query = query.copy()
        sort_query.pop("sort", None)
        size_query = query.copy()
        size_query.pop("per_page", None)
        page = context["page_obj"]
        context.update(
            page_links=page_links(page),
            # The size choice only where there is more than the smallest page to show.
            page_sizes=PAGE_SIZES
            if page.has_next() or page.number > 1 or len(page.object_list) > PAGE_SIZES[0]
            else (),
            per_page=context["paginator"].per_page,
            per_page_asked=bool(self.request.GET.get("per_page")),
            query_without_size=size_query.urlencode(),
            empty_state=None if page.object_list else self.empty_state(page),
            filterset=self.filterset,
            columns=self.columns,
            row_template=self.row_template,
            title=self.title,
            current_sort=self.current_sort(),
            query_without_page=query.urlencode(),
            query_without_sort=sort_query.urlencode(),
            create_url_name=self.create_url_name if self.can_create() else "",
            record_kind=self._kind_links(),
            saved_views=self.saved_view_menu(),
        )
        context.update(self.bulk_context())
        # The row templates add the custom field cells when there are such columns.
        context["custom_columns"] = self.custom_columns_list
        if self.custom_columns_list:
            self.fill_custom_cells(page.object_list)
        if page.object_list:
            rows_html = self.render_rows(page.object_list, bulk="bulk" in context)
            if rows_html is not None:
                context["rows_html"] = rows_html
        # The bulk bar's checkbox is the first cell of every row, before the list's columns.
        context["hidden_columns"] = self.hidden_column_numbers(first=2 if "bulk" in context else 1)
        if self.show_quality:
            from crm.selectors import quality_summary

            # A list longer than the summary reads is summarised from a sample: kept a moment.
            longer = context["paginator"].count > settings.QUALITY_SUMMARY_ROWS
            context["quality_summary"] = quality_summary(
                queryset=self.filterset.qs,
                cache_seconds=settings.QUALITY_SUMMARY_CACHE_SECONDS if longer else 0,
                rows_key=context["paginator"].rows_key,
            )
            worst = sort_query.copy()
            worst["quality"], worst["sort"] = "poor", "quality"
            context["worst_query"] = worst.urlencode()
        return context


def stale_message(count: int, noun: str) -> str:
    """What a bulk action says about the ticked rows someone changed since the list was read."""
    rows = f"{count} {noun}" + ("" if count == 1 else "s")
    return (
        f"{rows} changed by someone else since you loaded the list: left unchanged. "
        "Reload the list to see the changes, then try again."
    )
