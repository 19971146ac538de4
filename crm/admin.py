from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin

from crm.models import (
    Account,
    Activity,
    ApiToken,
    AuditEvent,
    ComposedEmail,
    Contact,
    EmailTemplate,
    Mailbox,
    Notification,
    NotificationSettings,
    OutboundEmail,
    SavedView,
    SignInEvent,
    Task,
    Team,
    User,
    WebhookDelivery,
    WebhookEndpoint,
)


class TrashAdminMixin:
    """Django admin's Delete (one record, or the list's "delete selected") moves the records to
    the trash as the record pages do, restorable from ``/trash/``; the admin's own permission
    checks and its list of protected rows come first."""

    def delete_model(self, request, obj):
        from crm.services.trash import trash_delete_many

        trash_delete_many(model=type(obj), pks=[obj.pk], user=request.user, check=False)

    def delete_queryset(self, request, queryset):
        from crm.services.trash import trash_delete_many

        pks = list(queryset.values_list("pk", flat=True))
        trash_delete_many(model=queryset.model, pks=pks, user=request.user, check=False)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = ("username", "email", "first_name", "last_name", "is_active", "is_staff")
    list_filter = ("groups", "is_active", "is_staff", "is_superuser")

    def save_related(self, request, form, formsets, change):
        """Roles are groups, saved here after the user: a change of them (or of the superuser
        flag) made in Django admin is a line of the audit trail, as one made on People is."""
        from crm.services.people import user_access_audit_admin, user_role_names

        user = form.instance
        old_roles = user_role_names(user) if change else []
        old_superuser = form.initial.get("is_superuser", False) if change else False
        super().save_related(request, form, formsets, change)
        user_access_audit_admin(
            actor=request.user,
            user=user,
            old_roles=old_roles,
            old_superuser=bool(old_superuser),
            request=request,
        )


@admin.register(SignInEvent)
class SignInEventAdmin(admin.ModelAdmin):
    """Every sign-in attempt, read only: the history is evidence, not data to edit."""

    list_display = ("at", "login", "user", "outcome", "ip", "user_agent")
    list_filter = ("outcome",)
    search_fields = ("login", "user__username", "user__email", "ip")
    date_hierarchy = "at"
    list_select_related = ("user",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """The security audit trail, read only: nobody adds, edits or deletes a line by hand (the
    daily prune removes lines past AUDIT_RETENTION_DAYS)."""

    list_display = ("at", "action", "actor", "target_user", "target_label", "ip")
    list_filter = ("action",)
    search_fields = ("action", "actor__username", "target_user__username", "target_label", "ip")
    date_hierarchy = "at"
    list_select_related = ("actor", "target_user")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Every user's API tokens (never their secrets): admins see who holds which, and revoke."""

    list_display = (
        "name",
        "prefix",
        "user",
        "scope",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    list_filter = ("scope",)
    search_fields = ("name", "prefix", "user__username")
    list_select_related = ("user",)
    fields = list_display
    readonly_fields = list_display
    actions = ["revoke"]

    def has_add_permission(self, request):
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke(self, request, queryset):
        from crm.services.api_tokens import api_token_revoke

        for token in queryset:
            api_token_revoke(token=token, user=request.user)
        self.message_user(request, f"{queryset.count()} tokens revoked.", messages.SUCCESS)


@admin.register(Mailbox)
class MailboxAdmin(admin.ModelAdmin):
    """Every user's connected mailbox and how its sync stands, for admins helping them; never
    its passwords or tokens, and only its user changes it (on their mailbox page)."""

    list_display = (
        "email_address",
        "user",
        "auth_method",
        "sync_status",
        "last_sync_at",
        "imported_total",
    )
    list_filter = ("sync_status", "auth_method")
    search_fields = ("email_address", "user__username")
    list_select_related = ("user",)
    fields = (
        *list_display,
        "sync_error",
        "sync_attempts",
        "next_sync_at",
        "last_sync_fetched",
        "last_sync_imported",
        "fetched_total",
        "imap_host",
        "smtp_host",
        "lease_owner",
        "lease_until",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Team)
class TeamAdmin(admin.ModelAdmin):
    list_display = ("name",)
    search_fields = ("name",)
    filter_horizontal = ("members", "managers")


@admin.register(SavedView)
class SavedViewAdmin(admin.ModelAdmin):
    """Users' saved views of the list pages (each changes their own on the lists)."""

    list_display = ("name", "list_key", "owner", "shared_with_team", "is_default", "updated_at")
    list_filter = ("shared_with_team", "is_default", "list_key")
    search_fields = ("name", "owner__username")
    raw_id_fields = ("owner",)


@admin.register(Account)
class AccountAdmin(TrashAdminMixin, admin.ModelAdmin):
    list_display = (
        "name",
        "domain",
        "industry",
        "size_band",
        "country",
        "lifecycle_stage",
        "owner",
    )
    list_filter = ("lifecycle_stage", "industry", "size_band", "country")
    search_fields = ("name", "domain")
    autocomplete_fields = ("owner",)
    list_select_related = ("owner",)
    show_full_result_count = False
    date_hierarchy = "created_at"


@admin.register(Contact)
class ContactAdmin(TrashAdminMixin, admin.ModelAdmin):
    list_display = ("last_name", "first_name", "email", "phone", "account", "owner")
    list_filter = ("marketing_consent", "email_consent")
    search_fields = ("last_name", "first_name", "email")
    autocomplete_fields = ("account", "owner")
    list_select_related = ("account", "owner")
    show_full_result_count = False
    readonly_fields = ("email_consent_at", "marketing_consent_at")


@admin.register(Activity)
class ActivityAdmin(admin.ModelAdmin):
    list_display = ("summary", "kind", "occurred_at", "actor", "content_type", "object_id")
    list_filter = ("kind", "content_type")
    search_fields = ("summary",)
    autocomplete_fields = ("actor", "subject_owner")
    list_select_related = ("actor", "content_type")
    show_full_result_count = False


@admin.register(Task)
class TaskAdmin(admin.ModelAdmin):
    list_display = ("title", "assignee", "due_at", "done_at", "content_type", "object_id")
    list_filter = ("done_at", "content_type")
    search_fields = ("title",)
    autocomplete_fields = ("assignee", "created_by", "done_by")
    list_select_related = ("assignee", "content_type")
    show_full_result_count = False


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    """Read only: notifications are written by the events that cause them."""

    list_display = ("verb", "recipient", "kind", "created_at", "read_at")
    list_filter = ("kind",)
    search_fields = ("verb", "recipient__username", "dedupe_key")
    list_select_related = ("recipient",)
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(NotificationSettings)
class NotificationSettingsAdmin(admin.ModelAdmin):
    list_display = ("user", "digest", "next_digest_at", "last_digest_at")
    list_filter = ("digest",)
    search_fields = ("user__username",)
    list_select_related = ("user",)
    readonly_fields = ("user", "next_digest_at", "last_digest_at")


@admin.register(OutboundEmail)
class OutboundEmailAdmin(admin.ModelAdmin):
    list_display = ("subject", "to_email", "status", "attempts", "created_at", "sent_at")
    list_filter = ("status",)
    search_fields = ("to_email", "subject", "idempotency_key")
    readonly_fields = ("idempotency_key", "claimed_at", "sent_at", "attempts", "last_error")
    show_full_result_count = False
    actions = ["requeue"]

    @admin.action(description="Requeue the selected messages (they may be sent again)")
    def requeue(self, request, queryset):
        from crm.services.outbox import outbox_requeue

        count = 0
        for email in queryset:
            count += outbox_requeue(email=email)
        self.message_user(request, f"{count} message(s) requeued.", messages.SUCCESS)


@admin.register(EmailTemplate)
class EmailTemplateAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "sharing", "archived_at", "updated_at")
    list_filter = ("sharing",)
    search_fields = ("name", "subject")
    raw_id_fields = ("owner",)


@admin.register(ComposedEmail)
class ComposedEmailAdmin(admin.ModelAdmin):
    """Read-only: an email written from a record is changed (cancelled) from the record."""

    list_display = ("subject", "to_email", "sender", "send_at", "open_count", "click_count")
    search_fields = ("to_email", "subject")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class _ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(_ReadOnlyAdmin):
    """Read only: endpoints are managed on the Webhooks page (its URL check, secret rotation
    and delivery log); deleting one here deletes its deliveries too."""

    list_display = ("url", "description", "active", "consecutive_failures", "created_at")
    list_filter = ("active",)
    search_fields = ("url", "description")
    exclude = ("secret", "previous_secret")


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(_ReadOnlyAdmin):
    """Every webhook delivery, read only; replay and retry are on the Webhooks page and the
    operators' page."""

    list_display = (
        "event_type",
        "event_id",
        "endpoint",
        "state",
        "uncertain",
        "attempts",
        "last_response_code",
        "next_attempt_at",
        "created_at",
    )
    list_filter = ("state", "uncertain", "event_type")
    search_fields = ("event_id", "endpoint__url")
    list_select_related = ("endpoint",)
    show_full_result_count = False

    def has_delete_permission(self, request, obj=None):
        return False
