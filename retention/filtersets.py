import django_filters
from django import forms
from django.db.models import Q

from crm.custom_fields.filters import CustomFieldFilterMixin
from crm.filtersets import DateRangeFilter, SearchFilterSet, people
from crm.models import Account
from crm.text_search import text_search
from retention.choices import (
    ChurnReason,
    HealthColour,
    RecommendationKind,
    RecommendationStatus,
    RiskReason,
    SubscriptionStatus,
)
from retention.models import ChurnEvent, Recommendation, RiskEpisode, Subscription


class AccountSearchFilterSet(SearchFilterSet):
    """``q`` finds rows by their account's name or domain (the account search index), and by
    the model's own ``search_fields`` (its own index) when it has any."""

    #: The search runs first, on its own index, and at most this many matches are used.
    max_matches = 2000

    def filter_text(self, queryset, name, value):
        accounts = text_search(Account.objects.all(), ("name", "domain"), value)
        condition = Q(
            account_id__in=list(accounts.values_list("pk", flat=True)[: self.max_matches])
        )
        if self.search_fields:
            own = text_search(self._meta.model.objects.all(), self.search_fields, value)
            condition |= Q(pk__in=list(own.values_list("pk", flat=True)[: self.max_matches]))
        return queryset.filter(condition)


class SubscriptionFilterSet(CustomFieldFilterMixin, AccountSearchFilterSet):
    search_fields = ("plan", "product_sku")
    status = django_filters.ChoiceFilter(
        choices=SubscriptionStatus.choices, empty_label="Any status"
    )
    owner = django_filters.ModelChoiceFilter(queryset=people, empty_label="Any owner")
    account = django_filters.NumberFilter(field_name="account_id", widget=forms.HiddenInput)
    renewal = DateRangeFilter(field_name="renewal_date", label="Renews between")

    class Meta:
        model = Subscription
        fields = ["q", "status", "owner", "account", "renewal"]


class RiskEpisodeFilterSet(AccountSearchFilterSet):
    reason = django_filters.ChoiceFilter(choices=RiskReason.choices, empty_label="Any reason")
    colour = django_filters.ChoiceFilter(
        field_name="account__health__colour",
        choices=HealthColour.choices,
        empty_label="Any colour",
        label="Health",
    )
    owner = django_filters.ModelChoiceFilter(
        field_name="account__owner", queryset=people, empty_label="Any owner"
    )

    class Meta:
        model = RiskEpisode
        fields = ["q", "reason", "colour", "owner"]


class ChurnEventFilterSet(AccountSearchFilterSet):
    reason = django_filters.ChoiceFilter(choices=ChurnReason.choices, empty_label="Any reason")
    date = DateRangeFilter(field_name="date", label="Churned between")

    class Meta:
        model = ChurnEvent
        fields = ["q", "reason", "date"]


class RecommendationFilterSet(AccountSearchFilterSet):
    search_fields = ("product_name",)
    status = django_filters.ChoiceFilter(
        choices=RecommendationStatus.choices, empty_label="Any status"
    )
    kind = django_filters.ChoiceFilter(choices=RecommendationKind.choices, empty_label="Any kind")

    class Meta:
        model = Recommendation
        fields = ["q", "status", "kind"]
