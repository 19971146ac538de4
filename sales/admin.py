from django.contrib import admin

from crm.admin import TrashAdminMixin
from sales.models import (
    OnboardingPlan,
    OnboardingTemplate,
    OnboardingTemplateItem,
    Opportunity,
    OpportunityLineItem,
    Order,
    OrderLine,
    Pipeline,
    Product,
    Quota,
    Quote,
    QuoteCounter,
    Stage,
    StageChange,
)


class StageInline(admin.TabularInline):
    model = Stage
    extra = 0


@admin.register(Pipeline)
class PipelineAdmin(admin.ModelAdmin):
    list_display = ["name", "order", "is_default", "is_active"]
    list_filter = ["is_active"]
    search_fields = ["name"]
    inlines = [StageInline]


@admin.register(Stage)
class StageAdmin(admin.ModelAdmin):
    list_display = ["name", "pipeline", "order", "probability", "kind", "rotting_days"]
    list_filter = ["pipeline", "kind"]
    search_fields = ["name", "pipeline__name"]
    autocomplete_fields = ["pipeline"]


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ["name", "sku", "price", "currency", "billing", "is_active"]
    list_filter = ["billing", "is_active", "currency"]
    search_fields = ["name", "sku"]


class LineItemInline(admin.TabularInline):
    model = OpportunityLineItem
    extra = 0
    autocomplete_fields = ["product"]
    readonly_fields = ["total"]


@admin.register(Opportunity)
class OpportunityAdmin(TrashAdminMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "account",
        "owner",
        "stage",
        "status",
        "amount",
        "currency",
        "expected_close_date",
    ]
    list_filter = ["status", "pipeline", "forecast_category"]
    search_fields = ["name"]
    autocomplete_fields = ["account", "primary_contact", "owner"]
    raw_id_fields = ["source_lead", "campaign"]
    list_select_related = ["account", "owner", "stage"]
    readonly_fields = ["status", "one_off_amount", "mrr", "closed_at", "stage_entered_at"]
    show_full_result_count = False
    inlines = [LineItemInline]


@admin.register(StageChange)
class StageChangeAdmin(admin.ModelAdmin):
    list_display = ["opportunity", "from_stage", "to_stage", "changed_at", "changed_by"]
    list_filter = ["to_stage__pipeline"]
    search_fields = ["opportunity__name"]
    autocomplete_fields = ["opportunity", "from_stage", "to_stage", "changed_by"]
    list_select_related = ["opportunity", "from_stage", "to_stage", "changed_by"]
    show_full_result_count = False


@admin.register(Quota)
class QuotaAdmin(admin.ModelAdmin):
    list_display = ["owner", "period_kind", "period_start", "amount", "currency"]
    list_filter = ["period_kind"]
    search_fields = ["owner__username", "owner__last_name"]
    autocomplete_fields = ["owner"]


@admin.register(QuoteCounter)
class QuoteCounterAdmin(admin.ModelAdmin):
    list_display = ["year", "last_number"]
    search_fields = ["year"]


@admin.register(Quote)
class QuoteAdmin(admin.ModelAdmin):
    list_display = ["number", "opportunity", "status", "one_off_total", "monthly_total", "currency"]
    list_filter = ["status"]
    search_fields = ["number", "opportunity__name"]
    autocomplete_fields = ["opportunity", "created_by"]
    show_full_result_count = False


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    autocomplete_fields = ["product"]


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = ["pk", "account", "order_date", "amount", "currency", "source", "external_ref"]
    list_filter = ["source", "currency"]
    search_fields = ["account__name", "external_ref"]
    autocomplete_fields = ["account", "opportunity", "owner"]
    list_select_related = ["account"]
    show_full_result_count = False
    inlines = [OrderLineInline]


@admin.register(OrderLine)
class OrderLineAdmin(admin.ModelAdmin):
    list_display = ["order", "description", "quantity", "unit_price", "billing", "total"]
    list_filter = ["billing"]
    search_fields = ["description"]
    autocomplete_fields = ["order", "product"]
    show_full_result_count = False


class TemplateItemInline(admin.TabularInline):
    model = OnboardingTemplateItem
    extra = 0


@admin.register(OnboardingTemplate)
class OnboardingTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "product", "pipeline", "is_default", "is_active"]
    list_filter = ["is_active", "is_default", "pipeline"]
    search_fields = ["name"]
    autocomplete_fields = ["product", "pipeline"]
    inlines = [TemplateItemInline]


@admin.register(OnboardingTemplateItem)
class OnboardingTemplateItemAdmin(admin.ModelAdmin):
    list_display = ["title", "template", "role", "due_offset_days", "order"]
    list_filter = ["role", "template"]
    search_fields = ["title"]
    autocomplete_fields = ["template"]


@admin.register(OnboardingPlan)
class OnboardingPlanAdmin(admin.ModelAdmin):
    list_display = ["account", "opportunity", "owner", "status", "items_total", "started_at"]
    list_filter = ["status"]
    search_fields = ["account__name", "opportunity__name"]
    autocomplete_fields = ["account", "opportunity", "template", "owner"]
    list_select_related = ["account", "opportunity", "owner"]
    show_full_result_count = False
