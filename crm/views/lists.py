"""The one list view every app's list pages are made of.

A list page is the rows of the entity's list selector (``<entity>_list(*, user)``, see
``crm.selectors``), a FilterSet (whose form is the filter bar), a whitelist of sortable columns,
and a row template. HTMX requests (filtering,
sorting, paging) get only the table back.
"""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.paginator import InvalidPage
from django.views.generic import ListView

from crm.pagination import EstimatedCountPaginator


@dataclass(frozen=True)
class Column:
    """A table column; ``sort`` is the ``?sort=`` key when the column is sortable."""

    label: str
    sort: str | None = None
    css: str = ""


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
        return sort if sort.lstrip("-") in self.sorts else self.default_sort

    def _ordered(self, queryset):
        if "search_rank" in queryset.query.annotations and not self.request.GET.get("sort"):
            return queryset.order_by("-search_rank", "-pk")
        sort = self.current_sort()
        fields = self.sorts[sort.lstrip("-")]
        if sort.startswith("-"):
            fields = tuple(f[1:] if f.startswith("-") else f"-{f}" for f in fields)
        return queryset.order_by(*fields)

    def paginate_queryset(self, queryset, page_size):
        paginator = self.get_paginator(queryset, page_size)
        try:
            page = paginator.page(self.request.GET.get("page") or 1)
        except InvalidPage:
            page = paginator.page(1)
        return paginator, page, page.object_list, True

    def get_template_names(self):
        return [self.partial_template_name] if is_htmx(self.request) else [self.template_name]

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        query = self.request.GET.copy()
        query.pop("page", None)
        sort_query = query.copy()
        sort_query.pop("sort", None)
        context.update(
            filterset=self.filterset,
            columns=self.columns,
            row_template=self.row_template,
            title=self.title,
            current_sort=self.current_sort(),
            query_without_page=query.urlencode(),
            query_without_sort=sort_query.urlencode(),
            create_url_name=self.create_url_name if self.can_create() else "",
        )
        return context


def stale_message(count: int, noun: str) -> str:
    """What a bulk action says about the ticked rows someone changed since the list was read."""
    rows = f"{count} {noun}" + ("" if count == 1 else "s")
    return (
        f"{rows} changed by someone else since you loaded the list: left unchanged. "
        "Reload the list to see the changes, then try again."
    )
