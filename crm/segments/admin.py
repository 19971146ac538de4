"""Admin for segments (imported from ``crm/apps.py``, as crm's admin.py is shared)."""

from django.contrib import admin

from crm.models import Segment, SegmentSizeSnapshot


class SegmentSizeSnapshotInline(admin.TabularInline):
    model = SegmentSizeSnapshot
    extra = 0
    fields = ("date", "size", "taken_at")
    readonly_fields = ("date", "size", "taken_at")
    ordering = ("-date",)
    max_num = 0
    can_delete = False


@admin.register(Segment)
class SegmentAdmin(admin.ModelAdmin):
    list_display = ("name", "target", "owner", "shared", "updated_at")
    list_filter = ("target", "shared")
    search_fields = ("name", "description")
    autocomplete_fields = ("owner",)
    readonly_fields = ("created_at", "updated_at")
    inlines = [SegmentSizeSnapshotInline]


@admin.register(SegmentSizeSnapshot)
class SegmentSizeSnapshotAdmin(admin.ModelAdmin):
    list_display = ("segment", "date", "size", "taken_at")
    list_filter = ("date",)
    search_fields = ("segment__name",)
    autocomplete_fields = ("segment",)
    date_hierarchy = "date"
    show_full_result_count = False
