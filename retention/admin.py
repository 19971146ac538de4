from django.contrib import admin, messages

from retention.models import (
    Advocate,
    ChurnEvent,
    ChurnModelRun,
    ChurnPrediction,
    HealthComponent,
    HealthScore,
    HealthScoreHistory,
    IntegrationToken,
    MrrMovement,
    NpsRun,
    NpsSurvey,
    ProductAssociation,
    Recommendation,
    Referral,
    Renewal,
    RiskEpisode,
    Subscription,
    TestimonialRequest,
    UsageDaily,
    UsageEvent,
)


class MrrMovementInline(admin.TabularInline):
    model = MrrMovement
    extra = 0
    can_delete = False
    fields = ["date", "kind", "amount", "currency", "mrr_after", "note"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Subscription)
class SubscriptionAdmin(admin.ModelAdmin):
    """Status and MRR are read-only here: they change through the services (the ledger)."""

    list_display = [
        "plan",
        "account",
        "status",
        "mrr",
        "currency",
        "seats",
        "renewal_date",
        "owner",
    ]
    list_filter = ["status", "currency", "auto_renew"]
    search_fields = ["plan", "product_sku", "account__name"]
    autocomplete_fields = ["account", "owner"]
    readonly_fields = ["status", "mrr", "seats_used", "ended_on", "source_opportunity_id"]
    date_hierarchy = "renewal_date"
    show_full_result_count = False
    inlines = [MrrMovementInline]


@admin.register(MrrMovement)
class MrrMovementAdmin(admin.ModelAdmin):
    list_display = ["date", "kind", "amount", "currency", "mrr_after", "account", "subscription"]
    list_filter = ["kind", "currency"]
    search_fields = ["account__name", "subscription__plan", "note"]
    autocomplete_fields = ["account", "subscription", "created_by"]
    date_hierarchy = "date"
    show_full_result_count = False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Renewal)
class RenewalAdmin(admin.ModelAdmin):
    list_display = [
        "subscription",
        "renewal_date",
        "opportunity_id",
        "value",
        "currency",
        "opened_at",
    ]
    search_fields = ["subscription__plan", "subscription__account__name"]
    autocomplete_fields = ["subscription"]
    date_hierarchy = "renewal_date"
    show_full_result_count = False


@admin.register(IntegrationToken)
class IntegrationTokenAdmin(admin.ModelAdmin):
    """Adding a token shows its secret once; only a hash is stored."""

    list_display = ["name", "prefix", "created_by", "created_at", "last_used_at", "revoked_at"]
    search_fields = ["name", "prefix"]
    fields = ["name", "revoked_at"]
    autocomplete_fields = ["created_by"]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        from retention.services.usage import integration_token_create

        token, raw = integration_token_create(name=obj.name, user=request.user)
        obj.pk, obj.prefix, obj.token_hash = token.pk, token.prefix, token.token_hash
        obj._state.adding = False
        messages.warning(
            request, f"The token for “{obj.name}” is {raw} — copy it now, it is not shown again."
        )


@admin.register(UsageEvent)
class UsageEventAdmin(admin.ModelAdmin):
    list_display = ["occurred_at", "account", "kind", "feature", "quantity", "source"]
    list_filter = ["kind", "source"]
    search_fields = ["account__name", "feature"]
    autocomplete_fields = ["account", "token"]
    date_hierarchy = "occurred_at"
    show_full_result_count = False


@admin.register(UsageDaily)
class UsageDailyAdmin(admin.ModelAdmin):
    list_display = ["day", "account", "kind", "feature", "total", "peak", "events"]
    list_filter = ["kind"]
    search_fields = ["account__name", "feature"]
    autocomplete_fields = ["account"]
    date_hierarchy = "day"
    show_full_result_count = False


@admin.register(HealthComponent)
class HealthComponentAdmin(admin.ModelAdmin):
    list_display = ["key", "weight", "is_active", "description"]
    list_editable = ["weight", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["key", "description"]


@admin.register(HealthScore)
class HealthScoreAdmin(admin.ModelAdmin):
    list_display = ["account", "score", "colour", "trend", "computed_on"]
    list_filter = ["colour"]
    search_fields = ["account__name"]
    autocomplete_fields = ["account"]
    show_full_result_count = False


@admin.register(HealthScoreHistory)
class HealthScoreHistoryAdmin(admin.ModelAdmin):
    list_display = ["account", "day", "score", "colour"]
    list_filter = ["colour"]
    search_fields = ["account__name"]
    autocomplete_fields = ["account"]
    date_hierarchy = "day"
    show_full_result_count = False


@admin.register(RiskEpisode)
class RiskEpisodeAdmin(admin.ModelAdmin):
    list_display = [
        "account",
        "reason",
        "opened_at",
        "opened_score",
        "closed_at",
        "playbook_run_at",
    ]
    list_filter = ["reason"]
    search_fields = ["account__name"]
    autocomplete_fields = ["account"]
    show_full_result_count = False


@admin.register(ChurnEvent)
class ChurnEventAdmin(admin.ModelAdmin):
    list_display = ["account", "date", "reason", "lost_mrr", "currency", "winback_started_at"]
    list_filter = ["reason"]
    search_fields = ["account__name", "note"]
    autocomplete_fields = ["account", "subscription", "recorded_by"]
    date_hierarchy = "date"
    show_full_result_count = False


@admin.register(ChurnPrediction)
class ChurnPredictionAdmin(admin.ModelAdmin):
    list_display = ["account", "probability", "computed_at"]
    search_fields = ["account__name"]
    autocomplete_fields = ["account"]
    show_full_result_count = False


@admin.register(ChurnModelRun)
class ChurnModelRunAdmin(admin.ModelAdmin):
    list_display = ["ran_at", "trained", "churned", "retained", "scored", "message"]
    list_filter = ["trained"]
    search_fields = ["message"]


@admin.register(NpsRun)
class NpsRunAdmin(admin.ModelAdmin):
    list_display = ["name", "status", "created_at", "created_by", "sent_count", "total"]
    list_filter = ["status"]
    search_fields = ["name"]
    autocomplete_fields = ["created_by"]
    readonly_fields = [
        "sent_count",
        "total",
        "started_at",
        "finished_at",
        "lease_owner",
        "lease_until",
    ]


@admin.register(NpsSurvey)
class NpsSurveyAdmin(admin.ModelAdmin):
    list_display = ["contact", "account", "run", "sent_at", "score", "answered_at"]
    list_filter = ["run"]
    search_fields = ["contact__last_name", "contact__email", "account__name"]
    autocomplete_fields = ["contact", "account", "run"]
    readonly_fields = ["key"]
    show_full_result_count = False


@admin.register(ProductAssociation)
class ProductAssociationAdmin(admin.ModelAdmin):
    list_display = [
        "antecedent_name",
        "consequent_name",
        "support",
        "confidence",
        "lift",
        "accounts",
    ]
    search_fields = ["antecedent_name", "consequent_name", "antecedent_sku", "consequent_sku"]


@admin.register(Recommendation)
class RecommendationAdmin(admin.ModelAdmin):
    list_display = ["account", "kind", "product_name", "strength", "status", "opportunity_id"]
    list_filter = ["kind", "status"]
    search_fields = ["account__name", "product_name", "product_sku"]
    autocomplete_fields = ["account"]
    show_full_result_count = False


@admin.register(Advocate)
class AdvocateAdmin(admin.ModelAdmin):
    list_display = ["contact", "account", "code", "status", "is_reference", "created_at"]
    list_filter = ["status", "is_reference"]
    search_fields = ["contact__last_name", "contact__email", "account__name", "code"]
    autocomplete_fields = ["contact", "account", "source_survey"]
    readonly_fields = ["code"]


@admin.register(Referral)
class ReferralAdmin(admin.ModelAdmin):
    list_display = ["advocate", "lead", "created_at", "converted_at", "reward_status"]
    list_filter = ["reward_status"]
    search_fields = ["advocate__contact__last_name", "lead__last_name", "lead__email"]
    autocomplete_fields = ["advocate", "lead"]


@admin.register(TestimonialRequest)
class TestimonialRequestAdmin(admin.ModelAdmin):
    list_display = ["advocate", "kind", "status", "permission_to_publish", "requested_at"]
    list_filter = ["kind", "status", "permission_to_publish"]
    search_fields = ["advocate__contact__last_name", "quote"]
    autocomplete_fields = ["advocate", "requested_by"]
