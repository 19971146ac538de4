import django_filters
from django import forms

from crm import catalog
from crm.custom_fields.filters import CustomFieldFilterMixin
from crm.filtersets import (
    DateRangeFilter,
    QualityFilterMixin,
    SearchFilterSet,
    people,
    quality_filter,
)
from leads.choices import Grade, LeadSource, LeadStatus
from leads.models import Campaign, Lead


@catalog.named("leads.campaigns-by-name")
def campaigns(request):
    return Campaign.objects.order_by("name")


class LeadFilterSet(CustomFieldFilterMixin, QualityFilterMixin, SearchFilterSet):
    search_fields = ("first_name", "last_name", "email", "company_name", "website")
    status = django_filters.ChoiceFilter(choices=LeadStatus.choices, empty_label="Any status")
    source = django_filters.ChoiceFilter(choices=LeadSource.choices, empty_label="Any source")
    campaign = django_filters.ModelChoiceFilter(queryset=campaigns, empty_label="Any campaign")
    owner = django_filters.ModelChoiceFilter(queryset=people, empty_label="Any owner")
    grade = django_filters.ChoiceFilter(choices=Grade.choices, empty_label="Any grade")
    score_min = django_filters.NumberFilter(
        field_name="score",
        lookup_expr="gte",
        label="Score from",
        widget=forms.NumberInput(attrs={"min": 0, "max": 100, "class": "w-6rem"}),
    )
    score_max = django_filters.NumberFilter(
        field_name="score",
        lookup_expr="lte",
        label="Score to",
        widget=forms.NumberInput(attrs={"min": 0, "max": 100, "class": "w-6rem"}),
    )
    created = DateRangeFilter(field_name="created_at", label="Created between")
    quality = quality_filter()
    possible_duplicate = django_filters.BooleanFilter(
        widget=forms.HiddenInput, label="Possible duplicates"
    )

    class Meta:
        model = Lead
        fields = [
            "q",
            "status",
            "source",
            "campaign",
            "owner",
            "grade",
            "score_min",
            "score_max",
            "created",
            "quality",
            "possible_duplicate",
        ]
