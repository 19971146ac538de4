import django_filters
from django import forms
from django.db.models import Q

from crm.filtersets import DateRangeFilter, SearchFilterSet
from support.choices import Category, Channel, Priority, TicketStatus
from support.models import Queue, Tag, Ticket
from support.services.tickets import agents_for_assignment


def _queues(request):
    return Queue.objects.order_by("name")


def _agents(request):
    return agents_for_assignment()


def _tags(request):
    return Tag.objects.order_by("name")


class TicketFilterSet(SearchFilterSet):
    search_fields = ("reference", "subject")
    status = django_filters.ChoiceFilter(choices=TicketStatus.choices, empty_label="Any status")
    priority = django_filters.ChoiceFilter(choices=Priority.choices, empty_label="Any priority")
    channel = django_filters.ChoiceFilter(choices=Channel.choices, empty_label="Any channel")
    category = django_filters.ChoiceFilter(choices=Category.choices, empty_label="Any category")
    queue = django_filters.ModelChoiceFilter(queryset=_queues, empty_label="Any queue")
    assignee = django_filters.ModelChoiceFilter(queryset=_agents, empty_label="Anyone")
    tag = django_filters.ModelChoiceFilter(
        field_name="tags", queryset=_tags, empty_label="Any tag", to_field_name="name"
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
