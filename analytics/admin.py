from django.contrib import admin

from analytics.models import CLVFit, CustomerValue, DailyMetric, JobLock


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


@admin.register(JobLock)
class JobLockAdmin(admin.ModelAdmin):
    list_display = ("name", "running_since", "requested_at", "requested_by", "finished_at")
    readonly_fields = ("running_since", "requested_at", "finished_at", "lease_owner", "lease_until")
    autocomplete_fields = ("requested_by",)


@admin.register(DailyMetric)
class DailyMetricAdmin(admin.ModelAdmin):
    list_display = ("date", "metric", "dimension", "owner", "value")
    list_filter = ("metric",)
    date_hierarchy = "date"
    search_fields = ("metric", "dimension")
    autocomplete_fields = ("owner",)
    list_select_related = ("owner",)
    show_full_result_count = False
