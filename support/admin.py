from django.contrib import admin

from crm.admin import TrashAdminMixin
from support.models import (
    Article,
    ArticleCategory,
    Attachment,
    BusinessCalendar,
    BusinessHours,
    CannedReply,
    CsatSurvey,
    Holiday,
    Queue,
    QueueAgent,
    SLAPolicy,
    Tag,
    Ticket,
    TicketMessage,
)


class BusinessHoursInline(admin.TabularInline):
    model = BusinessHours
    extra = 0


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 0


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(admin.ModelAdmin):
    list_display = ["name", "time_zone", "updated_at"]
    search_fields = ["name"]
    inlines = [BusinessHoursInline, HolidayInline]


@admin.register(BusinessHours)
class BusinessHoursAdmin(admin.ModelAdmin):
    list_display = ["calendar", "weekday", "opens", "closes"]
    list_filter = ["calendar", "weekday"]
    search_fields = ["calendar__name"]
    autocomplete_fields = ["calendar"]


@admin.register(Holiday)
class HolidayAdmin(admin.ModelAdmin):
    list_display = ["date", "name", "calendar"]
    list_filter = ["calendar"]
    search_fields = ["name", "calendar__name"]
    autocomplete_fields = ["calendar"]
    date_hierarchy = "date"


@admin.register(SLAPolicy)
class SLAPolicyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "priority",
        "queue",
        "calendar",
        "first_response_minutes",
        "resolution_minutes",
        "is_active",
    ]
    list_filter = ["priority", "is_active", "queue", "calendar"]
    search_fields = ["name"]
    autocomplete_fields = ["queue", "calendar"]


class QueueAgentInline(admin.TabularInline):
    model = QueueAgent
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Queue)
class QueueAdmin(admin.ModelAdmin):
    list_display = ["name", "team", "assignment_mode", "email_address", "is_default"]
    list_filter = ["assignment_mode", "is_default"]
    search_fields = ["name", "email_address"]
    autocomplete_fields = ["team"]
    inlines = [QueueAgentInline]


@admin.register(QueueAgent)
class QueueAgentAdmin(admin.ModelAdmin):
    list_display = ["user", "queue", "on_shift"]
    list_filter = ["on_shift", "queue"]
    list_editable = ["on_shift"]
    search_fields = ["user__username", "user__first_name", "user__last_name", "queue__name"]
    autocomplete_fields = ["queue", "user"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["name"]
    search_fields = ["name"]


@admin.register(Ticket)
class TicketAdmin(TrashAdminMixin, admin.ModelAdmin):
    list_display = [
        "reference",
        "subject",
        "status",
        "priority",
        "channel",
        "queue",
        "assignee",
        "sla_due_at",
        "created_at",
    ]
    list_filter = ["status", "priority", "channel", "category", "queue"]
    search_fields = ["=reference", "subject"]
    autocomplete_fields = [
        "account",
        "contact",
        "queue",
        "assignee",
        "sla_policy",
        "merged_into",
        "created_by",
        "tags",
    ]
    readonly_fields = ["reference", "sla_due_at", "sla_paused_seconds", "updated_at"]
    list_select_related = ["queue", "assignee"]
    show_full_result_count = False
    date_hierarchy = "created_at"


@admin.register(TicketMessage)
class TicketMessageAdmin(admin.ModelAdmin):
    list_display = ["ticket", "kind", "author_user", "author_contact", "created_at"]
    list_filter = ["kind"]
    search_fields = ["=ticket__reference", "email_message_id"]
    autocomplete_fields = ["ticket", "author_user", "author_contact"]
    list_select_related = ["ticket", "author_user", "author_contact"]
    show_full_result_count = False


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = ["filename", "content_type", "size", "ticket", "created_at"]
    list_filter = ["content_type"]
    search_fields = ["filename", "=ticket__reference"]
    autocomplete_fields = ["ticket", "message"]
    list_select_related = ["ticket"]
    show_full_result_count = False


@admin.register(CannedReply)
class CannedReplyAdmin(admin.ModelAdmin):
    list_display = ["title", "is_active", "created_at"]
    list_filter = ["is_active"]
    search_fields = ["title", "body"]


@admin.register(CsatSurvey)
class CsatSurveyAdmin(admin.ModelAdmin):
    list_display = ["ticket", "rating", "sent_at", "answered_at"]
    list_filter = ["rating"]
    search_fields = ["=ticket__reference", "comment"]
    autocomplete_fields = ["ticket"]
    readonly_fields = ["token"]
    list_select_related = ["ticket"]
    show_full_result_count = False


@admin.register(ArticleCategory)
class ArticleCategoryAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "order"]
    search_fields = ["name"]


@admin.register(Article)
class ArticleAdmin(admin.ModelAdmin):
    list_display = ["title", "category", "status", "visibility", "view_count", "updated_at"]
    list_filter = ["status", "visibility", "category"]
    search_fields = ["title", "slug"]
    readonly_fields = ["view_count", "helpful_yes", "helpful_no", "published_at"]
    exclude = ["search_vector"]
