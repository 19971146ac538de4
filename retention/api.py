"""Subscriptions in the REST API, read only (registered in ``retention.apps``)."""

from crm.api.serializers import RecordSerializer
from crm.api.viewsets import RecordViewSet
from retention.models import Subscription
from retention.selectors.records import subscription_get, subscription_list


class SubscriptionSerializer(RecordSerializer):
    class Meta:
        model = Subscription
        fields = [
            "id",
            "account",
            "owner",
            "plan",
            "product_sku",
            "seats",
            "seats_used",
            "mrr",
            "currency",
            "status",
            "start_date",
            "term_months",
            "renewal_date",
            "auto_renew",
            "ended_on",
            "created_at",
            "updated_at",
        ]


class SubscriptionViewSet(RecordViewSet):
    """Subscriptions the caller sees, as on the pages."""

    serializer_class = SubscriptionSerializer
    list_selector = subscription_list
    get_selector = subscription_get
