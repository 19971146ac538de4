import django_filters
from django import forms

from crm.custom_fields.filters import CustomFieldFilterMixin
from crm.filtersets import DateRangeFilter, SearchFilterSet, people
from sales.choices import Billing, ForecastCategory, OnboardingStatus, OrderSource, StageKind
from sales.forms import StageField
from sales.models import OnboardingPlan, Opportunity, Order, Pipeline, Product, Stage


def pipelines(request):
    return Pipeline.objects.filter(is_active=True)


def stages(request):
    return Stage.objects.select_related("pipeline").order_by("pipeline__order", "order")


class StageChoiceFilter(django_filters.ModelChoiceFilter):
    field_class = StageField


class OpportunityFilterSet(CustomFieldFilterMixin, SearchFilterSet):
    search_fields = ("name", "next_step")
    status = django_filters.ChoiceFilter(choices=StageKind.choices, empty_label="Open, won or lost")
    pipeline = django_filters.ModelChoiceFilter(queryset=pipelines, empty_label="Any pipeline")
    stage = StageChoiceFilter(queryset=stages, empty_label="Any stage")
    forecast_category = django_filters.ChoiceFilter(
        choices=ForecastCategory.choices, empty_label="Any category", label="Forecast"
    )
    owner = django_filters.ModelChoiceFilter(queryset=people, empty_label="Anyone")
    account = django_filters.NumberFilter(field_name="account_id", widget=forms.HiddenInput)
    contact = django_filters.NumberFilter(field_name="primary_contact_id", widget=forms.HiddenInput)
    close = DateRangeFilter(field_name="expected_close_date", label="Closing between")

    class Meta:
        model = Opportunity
        fields = [
            "q",
            "status",
            "pipeline",
            "stage",
            "forecast_category",
            "owner",
            "close",
            "account",
            "contact",
        ]


class OrderFilterSet(SearchFilterSet):
    search_fields = ("external_ref",)
    source = django_filters.ChoiceFilter(choices=OrderSource.choices, empty_label="Any source")
    account = django_filters.NumberFilter(field_name="account_id", widget=forms.HiddenInput)
    ordered = DateRangeFilter(field_name="order_date", label="Ordered between")

    class Meta:
        model = Order
        fields = ["q", "source", "ordered", "account"]


class OnboardingFilterSet(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=OnboardingStatus.choices, empty_label="Any status")
    owner = django_filters.ModelChoiceFilter(queryset=people, empty_label="Anyone")

    class Meta:
        model = OnboardingPlan
        fields = ["status", "owner"]


class ProductFilterSet(SearchFilterSet):
    search_fields = ("name", "sku", "description")
    billing = django_filters.ChoiceFilter(choices=Billing.choices, empty_label="Any billing")
    is_active = django_filters.BooleanFilter(label="Active")

    class Meta:
        model = Product
        fields = ["q", "billing", "is_active"]
