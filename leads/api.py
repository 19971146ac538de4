"""Leads in the REST API: list, read, create, change, change status and convert, over the lead
selectors and services (registered in ``leads.apps``)."""

from functools import partial

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import action

from crm.api.serializers import RecordSerializer
from crm.api.viewsets import RecordViewSet, WritableRecordViewSet
from leads import selectors
from leads.filtersets import LeadFilterSet
from leads.forms import ConvertForm, LeadForm, StatusForm
from leads.models import Campaign, Lead
from leads.services import leads as lead_services
from leads.services.leads import LEAD_FIELDS


class LeadSerializer(RecordSerializer):
    class Meta:
        model = Lead
        fields = [
            "id",
            *LEAD_FIELDS,
            "status",
            "disqualify_reason",
            "score",
            "grade",
            "possible_duplicate",
            "quality",
            "converted_account",
            "converted_contact",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "status",
            "disqualify_reason",
            "score",
            "grade",
            "possible_duplicate",
            "quality",
            "converted_account",
            "converted_contact",
            "created_at",
            "updated_at",
        ]


LeadStatusRequest = inline_serializer(
    "LeadStatusRequest",
    {
        "status": serializers.ChoiceField(choices=StatusForm.base_fields["status"].choices),
        "reason": serializers.CharField(required=False, help_text="Why, when disqualified."),
        "note": serializers.CharField(required=False),
    },
)
LeadConvertRequest = inline_serializer(
    "LeadConvertRequest",
    {
        "create_opportunity": serializers.BooleanField(required=False, default=True),
        "opportunity_name": serializers.CharField(required=False, max_length=200),
        "opportunity_amount": serializers.DecimalField(
            required=False, max_digits=14, decimal_places=2, min_value=0
        ),
    },
)


class LeadViewSet(WritableRecordViewSet):
    """Leads: reps their own, managers their teams', admins all; support agents none."""

    serializer_class = LeadSerializer
    list_selector = selectors.lead_list
    get_selector = partial(selectors.lead_get, related=())
    filterset_class = LeadFilterSet
    ordering_fields = ("id", "created_at", "updated_at", "quality")
    form_class = LeadForm
    create_service = lead_services.lead_create
    update_service = lead_services.lead_update
    object_name = "lead"

    @extend_schema(request=LeadStatusRequest, responses=LeadSerializer)
    @action(detail=True, methods=["post"])
    def status(self, request, pk=None):
        """Move the lead to another status (disqualifying needs a reason)."""
        return self.act(
            form_class=StatusForm,
            action=lambda lead, data: lead_services.lead_set_status(
                lead=lead, user=request.user, **data
            ),
        )

    @extend_schema(request=LeadConvertRequest, responses=LeadSerializer)
    @action(detail=True, methods=["post"])
    def convert(self, request, pk=None):
        """Convert the lead into an account and contact (and, unless told not to, a deal);
        converting a converted lead changes nothing."""
        return self.act(
            form_class=ConvertForm,
            action=lambda lead, data: lead_services.lead_convert(
                lead=lead, user=request.user, **data
            ),
        )


class CampaignSerializer(RecordSerializer):
    class Meta:
        model = Campaign
        fields = [
            "id",
            "name",
            "slug",
            "channel",
            "cost",
            "currency",
            "start_date",
            "end_date",
            "is_active",
            "description",
            "owner",
        ]


class CampaignViewSet(RecordViewSet):
    """Marketing campaigns (read only): every role sees them, as on the pages."""

    serializer_class = CampaignSerializer
    list_selector = selectors.campaign_list
    get_selector = selectors.campaign_get
    filterset_class = None
