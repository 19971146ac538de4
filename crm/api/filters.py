"""Filtering and ordering of API lists: the list pages' own FilterSets, and ordering only on
indexed fields."""

from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.filters import OrderingFilter


class FilterSetBackend(DjangoFilterBackend):
    """The view's ``filterset_class`` (the list page's): a value it cannot read answers 400
    with the filter's errors. Custom field parameters (``cf_…``) are the API's own filters
    (``crm.api.custom_fields``: comma-separated choices, ``__gte``…), not the list page's."""

    def get_filterset_kwargs(self, request, queryset, view):
        kwargs = super().get_filterset_kwargs(request, queryset, view)
        data = kwargs["data"].copy()
        for key in [k for k in data if k.startswith("cf_")]:
            del data[key]
        kwargs["data"] = data
        return kwargs


class IndexedOrderingFilter(OrderingFilter):
    """``?ordering=`` over the view's ``ordering_fields`` (each backed by an index), newest
    first by default."""

    ordering_description = "Sort by one of these (indexed) fields; a leading '-' sorts descending."

    def get_schema_operation_parameters(self, view):
        fields = getattr(view, "ordering_fields", None) or ()
        return [
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "description": self.ordering_description,
                "schema": {"type": "string", "enum": [v for f in fields for v in (f, f"-{f}")]},
            }
        ]
