from django.contrib import admin

from analytics.models import CLVFit, CustomerValue


@admin.register(CLVFit)
class CLVFitAdmin(admin.ModelAdmin):
    list_display = ("fitted_at", "observation_end", "time_unit", "customers", "currency")
    list_filter = ("time_unit",)
    date_hierarchy = "fitted_at"
    readonly_fields = ("fitted_at",)


@admin.register(CustomerValue)
class CustomerValueAdmin(admin.ModelAdmin):
    list_display = (
        "account",
        "rfm_segment",
        "rfm_score",
        "frequency",
        "p_alive",
        "expected_purchases_12m",
        "expected_value_12m",
        "historical_value",
        "currency",
    )
    list_filter = ("rfm_segment",)
    search_fields = ("account__name",)
    autocomplete_fields = ("account",)
    list_select_related = ("account",)
    raw_id_fields = ("fit",)
    show_full_result_count = False
