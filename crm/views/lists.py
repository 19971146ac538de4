"""The one list view every app's list pages are made of.

A list page is the rows of the entity's list selector (``<entity>_list(*, user)``, see
``crm.selectors``), a FilterSet (whose form is the filter bar), a whitelist of sortable columns,
and a row template. HTMX requests (filtering,
sorting, paging) get only the table back. A list whose entity is a registered record kind
(``record_kind``, see ``crm.tabular``) also answers ``?export=csv`` and ``?export=xlsx`` with
exactly the rows it shows: the same selector, filters and sort, every page.
"""

from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.paginator import InvalidPage
from django.http import Http404
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
    record_kind = ""  # the ``crm.registry.tabular`` kind: export buttons and ``?export=``
    show_quality = False  # a data-quality summary of the filtered rows (``crm.quality``)

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
        return super().get(request, *args, **kwargs)

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

    def _kind_links(self):
        """The export and import links of the list's record kind, for the page header."""
        kind = self.tabular_kind()
        if kind is None:
            return None
        query = self.request.GET.copy()
        for name in ("page", "export"):
            query.pop(name, None)
        return {
            "kind": kind,
            "query": query.urlencode(),
            "may_import": kind.may_import(self.request.user),
        }

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
            record_kind=self._kind_links(),
        )
        if self.show_quality:
            from crm.selectors import quality_summary

            context["quality_summary"] = quality_summary(queryset=self.filterset.qs)
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
