"""Deals, products and quotes in the REST API (registered in ``sales.registrations``): deals
are created, changed, moved between stages, won and lost through the deal services; the
catalogue and quotes are read only."""

from django import forms
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.decorators import action

from crm.api.serializers import RecordSerializer
from crm.api.viewsets import RecordViewSet, WritableRecordViewSet
from sales import selectors, services
from sales.choices import StageKind
from sales.filtersets import OpportunityFilterSet
from sales.forms import LostForm, OpportunityForm
from sales.models import Opportunity, Product, Quote

DEAL_FIELDS = [
    "name",
    "account",
    "primary_contact",
    "owner",
    "stage",
    "amount",
    "currency",
    "probability",
    "forecast_category",
    "expected_close_date",
    "next_step",
    "campaign",
]


class OpportunitySerializer(RecordSerializer):
    lines_value = serializers.DecimalField(
        max_digits=14,
        decimal_places=2,
        read_only=True,
        help_text="The line items' total: the amount unless amount_is_manual.",
    )

    class Meta:
        model = Opportunity
        fields = [
            "id",
            *DEAL_FIELDS,
            "pipeline",
            "status",
            "amount_is_manual",
            "lines_value",
            "one_off_amount",
            "mrr",
            "lost_reason",
            "lost_note",
            "source_lead",
            "stage_entered_at",
            "closed_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "pipeline",
            "status",
            "amount_is_manual",
            "amount_is_manual",
            "lines_value",
            "one_off_amount",
            "mrr",
            "lost_reason",
            "lost_note",
            "source_lead",
            "stage_entered_at",
            "closed_at",
            "created_at",
            "updated_at",
        ]
        extra_kwargs = {"probability": {"required": False}, "stage": {"required": False}}


MoveRequest = inline_serializer(
    "OpportunityMoveRequest", {"stage": serializers.IntegerField(help_text="An open stage's id.")}
)
LoseRequest = inline_serializer(
    "OpportunityLoseRequest",
    {
        "reason": serializers.ChoiceField(choices=LostForm.base_fields["reason"].choices[1:]),
        "note": serializers.CharField(required=False),
    },
)


class MoveForm(forms.Form):
    """The stage picker of the deal's page: an open stage the caller sees (winning and losing
    have their own actions)."""

    stage = forms.ModelChoiceField(queryset=None)

    def __init__(self, *args, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stage"].queryset = selectors.stage_list(user=user).filter(kind=StageKind.OPEN)


class OpportunityViewSet(WritableRecordViewSet):
    """Deals: reps their own, managers their teams', admins all; support agents see none (nor
    their amounts)."""

    serializer_class = OpportunitySerializer
    list_selector = selectors.opportunity_list
    get_selector = selectors.opportunity_get
    filterset_class = OpportunityFilterSet
    ordering_fields = ("id", "created_at", "updated_at")
    form_class = OpportunityForm
    create_service = services.opportunity_create
    update_service = services.opportunity_update
    object_name = "opportunity"

    @extend_schema(request=MoveRequest, responses=OpportunitySerializer)
    @action(detail=True, methods=["post"])
    def move(self, request, pk=None):
        """Move the deal to another open stage (win and lose have their own actions)."""
        return self.act(
            form_class=MoveForm,
            action=lambda deal, data: services.opportunity_move_stage(
                opportunity=deal, stage=data["stage"], user=request.user
            ),
            form_kwargs={"user": request.user},
        )

    @extend_schema(request=None, responses=OpportunitySerializer)
    @action(detail=True, methods=["post"])
    def win(self, request, pk=None):
        """Win the deal: its won stage, its order recorded, onboarding started. Winning a won
        deal changes nothing."""
        return self.act(
            form_class=None,
            action=lambda deal, data: services.opportunity_close_won(
                opportunity=deal, user=request.user
            ),
        )

    @extend_schema(request=None, responses=OpportunitySerializer)
    @action(detail=True, methods=["post"], url_path="amount-from-lines")
    def amount_from_lines(self, request, pk=None):
        """End a manual amount: the deal's amount is its line items' total again and follows
        them (an amount sent in an update of a deal with line items makes it manual)."""
        return self.act(
            form_class=None,
            action=lambda deal, data: services.opportunity_amount_from_lines(
                opportunity=deal, user=request.user
            ),
        )

    @extend_schema(request=LoseRequest, responses=OpportunitySerializer)
    @action(detail=True, methods=["post"])
    def lose(self, request, pk=None):
        """Lose the deal, with a reason; losing a lost deal changes nothing."""
        return self.act(
            form_class=LostForm,
            action=lambda deal, data: services.opportunity_close_lost(
                opportunity=deal, user=request.user, reason=data["reason"], note=data["note"]
            ),
        )


class ProductSerializer(RecordSerializer):
    class Meta:
        model = Product
        fields = ["id", "name", "sku", "description", "price", "currency", "billing", "is_active"]


class ProductViewSet(RecordViewSet):
    """The catalogue (read only), for those who sell."""

    serializer_class = ProductSerializer
    list_selector = selectors.product_list
    get_selector = selectors.product_get


class QuoteSerializer(RecordSerializer):
    class Meta:
        model = Quote
        fields = [
            "id",
            "opportunity",
            "number",
            "status",
            "currency",
            "one_off_total",
            "monthly_total",
            "lines",
            "seller",
            "buyer",
            "valid_until",
            "created_by",
            "created_at",
            "sent_at",
            "sent_to",
            "decided_at",
            "decided_by_name",
        ]


class QuoteViewSet(RecordViewSet):
    """Quotes (read only): those of the deals the caller sees."""

    serializer_class = QuoteSerializer
    list_selector = selectors.quote_list
    get_selector = selectors.quote_get
