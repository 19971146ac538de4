import django_filters
from django import forms
from django.db.models import Q

from crm import catalog
from crm.custom_fields.filters import CustomFieldFilterMixin
from crm.filtersets import DateRangeFilter, SearchFilterSet
from crm.widgets import AutocompleteSelect
from support.choices import (
    ArticleStatus,
    ArticleVisibility,
    Category,
    Channel,
    Priority,
    TicketStatus,
)
from support.models import Article, ArticleCategory, CannedReply, Queue, Ticket
from support.services.tickets import AGENTS, agents_for_assignment

#: ``queues()``'s name in the catalog (``crm.catalog.rows``).
QUEUES = "support.queues-by-name"


@catalog.named(QUEUES)
def queues(request=None):
    return Queue.objects.order_by("name")


@catalog.named(AGENTS)
def _agents(request):
    return agents_for_assignment()


class TicketFilterSet(CustomFieldFilterMixin, SearchFilterSet):
    search_fields = ("reference", "subject")
    status = django_filters.ChoiceFilter(choices=TicketStatus.choices, empty_label="Any status")
    priority = django_filters.ChoiceFilter(choices=Priority.choices, empty_label="Any priority")
    channel = django_filters.ChoiceFilter(choices=Channel.choices, empty_label="Any channel")
    category = django_filters.ChoiceFilter(choices=Category.choices, empty_label="Any category")
    queue = django_filters.ModelChoiceFilter(queryset=queues, empty_label="Any queue")
    # The assignee is searched as one types and the tag typed: neither lists every choice.
    assignee = django_filters.ModelChoiceFilter(
        queryset=_agents,
        empty_label="Anyone",
        widget=AutocompleteSelect("user_autocomplete", attrs={"class": "form-select-sm"}),
    )
    tag = django_filters.CharFilter(
        field_name="tags__name",
        lookup_expr="iexact",
        label="Tag",
        widget=forms.TextInput(attrs={"class": "form-control form-control-sm", "size": 10}),
    )
    breached = django_filters.BooleanFilter(
        method="filter_breached",
        label="SLA breached",
        widget=forms.Select(
            choices=[("", "Breached or not"), ("true", "Breached"), ("false", "Within SLA")]
        ),
    )
    account = django_filters.NumberFilter(field_name="account_id", widget=forms.HiddenInput)
    contact = django_filters.NumberFilter(field_name="contact_id", widget=forms.HiddenInput)
    created = DateRangeFilter(field_name="created_at", label="Created between")

    class Meta:
        model = Ticket
        fields = [
            "q",
            "status",
            "priority",
            "channel",
            "category",
            "queue",
            "assignee",
            "tag",
            "breached",
            "account",
            "contact",
            "created",
        ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.form.fields.values():
            if isinstance(field.widget, forms.Select) and not field.widget.attrs.get("class"):
                field.widget.attrs["class"] = "form-select form-select-sm"

    def filter_text(self, queryset, name, value):
        # A reference typed in full ("T-000123", "t-123") goes straight to that ticket.
        cleaned = value.strip().upper()
        if cleaned.startswith("T-") and cleaned[2:].isdigit():
            return queryset.filter(pk=int(cleaned[2:]))
        return super().filter_text(queryset, name, value)

    def filter_breached(self, queryset, name, value):
        breached = Q(first_response_breached=True) | Q(resolution_breached=True)
        if value is True:
            return queryset.filter(breached)
        if value is False:
            return queryset.exclude(breached)
        return queryset


class CannedReplyFilterSet(SearchFilterSet):
    search_fields = ("title", "body")
    is_active = django_filters.BooleanFilter(
        label="Offered to agents",
        widget=forms.Select(
            choices=[("", "Active or not"), ("true", "Active"), ("false", "Inactive")]
        ),
    )

    class Meta:
        model = CannedReply
        fields = ["q", "is_active"]


def _article_categories(request):
    return ArticleCategory.objects.order_by("order", "name")


class ArticleFilterSet(django_filters.FilterSet):
    """The knowledge base's list: full-text search (as the help centre searches), status,
    visibility and category."""

    q = django_filters.CharFilter(method="filter_text", label="Search")
    status = django_filters.ChoiceFilter(choices=ArticleStatus.choices, empty_label="Any status")
    visibility = django_filters.ChoiceFilter(
        choices=ArticleVisibility.choices, empty_label="Internal or public"
    )
    category = django_filters.ModelChoiceFilter(
        queryset=_article_categories, empty_label="Any category"
    )

    class Meta:
        model = Article
        fields = ["q", "status", "visibility", "category"]

    def filter_text(self, queryset, name, value):
        from support.selectors import article_search

        return article_search(queryset, value)


class ArticleCategoryFilterSet(django_filters.FilterSet):
    name = django_filters.CharFilter(lookup_expr="icontains", label="Name")

    class Meta:
        model = ArticleCategory
        fields = ["name"]
