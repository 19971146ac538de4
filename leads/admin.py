from django.contrib import admin

from crm.admin import TrashAdminMixin
from leads.forms import (
    SequenceStepAdminForm,
    SequenceStepVariantAdminForm,
    SequenceStepVariantFormSet,
)
from leads.models import (
    AssignmentCursor,
    AssignmentRule,
    Campaign,
    Enrollment,
    ImportJob,
    ImportMapping,
    ImportRowError,
    Lead,
    ScoringRule,
    SegmentEnrolment,
    Sequence,
    SequenceStep,
    SequenceStepVariant,
)


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "channel", "cost", "currency", "start_date", "is_active")
    list_filter = ("channel", "is_active")
    search_fields = ("name", "slug")
    prepopulated_fields = {"slug": ("name",)}
    autocomplete_fields = ("owner", "sequence")


@admin.register(Lead)
class LeadAdmin(TrashAdminMixin, admin.ModelAdmin):
    list_display = (
        "last_name",
        "first_name",
        "email",
        "company_name",
        "status",
        "source",
        "score",
        "grade",
        "owner",
    )
    list_filter = ("status", "source", "grade", "possible_duplicate")
    search_fields = ("last_name", "first_name", "email", "company_name")
    autocomplete_fields = (
        "owner",
        "campaign",
        "team",
        "duplicate_of",
        "converted_account",
        "converted_contact",
    )
    list_select_related = ("owner",)
    readonly_fields = (
        "score",
        "grade",
        "score_breakdown",
        "conversion_probability",
        "conversion_factors",
        "converted_at",
        "email_consent_at",
        "marketing_consent_at",
        "unsubscribed_at",
    )
    show_full_result_count = False
    date_hierarchy = "created_at"


@admin.register(ScoringRule)
class ScoringRuleAdmin(admin.ModelAdmin):
    list_display = ("name", "criterion", "value", "points", "decay_days", "is_active")
    list_editable = ("points", "decay_days", "is_active")
    list_filter = ("criterion", "is_active")
    search_fields = ("name", "value")


@admin.register(AssignmentRule)
class AssignmentRuleAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "priority",
        "countries",
        "source",
        "min_employees",
        "max_employees",
        "team",
        "is_active",
    )
    list_editable = ("priority", "is_active")
    list_filter = ("source", "is_active")
    search_fields = ("name", "countries")
    autocomplete_fields = ("team",)


@admin.register(AssignmentCursor)
class AssignmentCursorAdmin(admin.ModelAdmin):
    list_display = ("team", "last_user")
    autocomplete_fields = ("team", "last_user")


@admin.register(ImportJob)
class ImportJobAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "original_name",
        "status",
        "processed_rows",
        "total_rows",
        "created_count",
        "error_count",
        "created_by",
        "created_at",
    )
    list_filter = ("status", "policy")
    search_fields = ("original_name",)
    autocomplete_fields = ("created_by", "owner")
    readonly_fields = (
        "processed_rows",
        "total_rows",
        "runs",
        "started_at",
        "finished_at",
        "lease_owner",
        "lease_until",
    )
    show_full_result_count = False


@admin.register(SegmentEnrolment)
class SegmentEnrolmentAdmin(admin.ModelAdmin):
    """Read only: jobs are made from the sequence page and changed only by their run."""

    list_display = (
        "id",
        "sequence",
        "segment_name",
        "status",
        "members",
        "total",
        "enrolled",
        "created_by",
        "created_at",
    )
    list_filter = ("status",)
    search_fields = ("segment_name",)
    list_select_related = ("sequence", "created_by")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(ImportRowError)
class ImportRowErrorAdmin(admin.ModelAdmin):
    list_display = ("job", "line", "reason")
    search_fields = ("reason",)
    autocomplete_fields = ("job",)
    show_full_result_count = False


@admin.register(ImportMapping)
class ImportMappingAdmin(admin.ModelAdmin):
    list_display = ("user", "updated_at")
    autocomplete_fields = ("user",)


class SequenceStepInline(admin.StackedInline):
    model = SequenceStep
    form = SequenceStepAdminForm
    extra = 1
    exclude = ("winner_after_hours", "winner_variant", "winner_picked_at")
    show_change_link = True  # A/B variants are edited on the step's own page


class SequenceStepVariantInline(admin.TabularInline):
    model = SequenceStepVariant
    form = SequenceStepVariantAdminForm
    formset = SequenceStepVariantFormSet
    extra = 2
    max_num = 4


@admin.register(SequenceStep)
class SequenceStepAdmin(admin.ModelAdmin):
    """An email step's A/B test: 2–4 variants replace its subject and body, split evenly and
    reproducibly over the leads; after ``winner_after_hours`` the best becomes the only one."""

    form = SequenceStepAdminForm
    list_display = ("__str__", "action", "delay_days", "winner_after_hours", "winner_variant")
    list_filter = ("action",)
    search_fields = ("sequence__name", "subject")
    list_select_related = ("sequence", "winner_variant")
    readonly_fields = ("winner_variant", "winner_picked_at")
    inlines = [SequenceStepVariantInline]


@admin.register(Sequence)
class SequenceAdmin(admin.ModelAdmin):
    list_display = ("name", "is_active", "auto_enrol", "rule_source", "rule_campaign")
    list_filter = ("is_active", "auto_enrol")
    search_fields = ("name",)
    autocomplete_fields = ("rule_campaign", "created_by")
    inlines = [SequenceStepInline]


@admin.register(Enrollment)
class EnrollmentAdmin(admin.ModelAdmin):
    list_display = ("lead", "sequence", "state", "stop_reason", "next_position", "next_step_at")
    list_filter = ("state", "stop_reason", "sequence")
    autocomplete_fields = ("lead", "sequence", "enrolled_by")
    list_select_related = ("lead", "sequence")
    show_full_result_count = False


from leads.models import CampaignRecipient, EmailCampaign, EmailVariant, Suppression  # noqa: E402


class EmailVariantInline(admin.TabularInline):
    model = EmailVariant
    extra = 0
    max_num = 4


@admin.register(EmailCampaign)
class EmailCampaignAdmin(admin.ModelAdmin):
    list_display = ("name", "campaign", "segment", "status", "scheduled_at", "rate_per_minute")
    list_filter = ("status",)
    search_fields = ("name",)
    autocomplete_fields = ("campaign", "segment", "created_by")
    raw_id_fields = ("winner_variant",)
    inlines = [EmailVariantInline]


@admin.register(CampaignRecipient)
class CampaignRecipientAdmin(admin.ModelAdmin):
    list_display = ("email", "campaign", "variant", "status", "skip_reason", "opened_at")
    list_filter = ("status", "skip_reason")
    search_fields = ("email",)
    raw_id_fields = ("campaign", "contact", "variant", "outbound_email")
    show_full_result_count = False


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ("email", "email_hash", "reason", "created_at")
    list_filter = ("reason",)
    search_fields = ("email",)
    show_full_result_count = False
