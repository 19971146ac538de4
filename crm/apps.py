from django.apps import AppConfig

from crm.choices import Role


class CrmConfig(AppConfig):
    """The shared customer core: users and roles, accounts, contacts, timeline, tasks, outbox."""

    name = "crm"
    verbose_name = "CRM core"

    def ready(self):
        from django.contrib.auth.models import Group

        from crm import catalog, loading

        # Rows into instances without walking every field of the model (crm.loading).
        loading.install()
        from crm import prepared

        # Queries keyed by a record or the user prepared per connection (crm.prepared).
        prepared.install()
        from crm.models import CustomField, SavedView, Team, User

        # Their tables' triggers: crm 0034.
        catalog.track(User, User.groups.through, Group, Team, Team.members.through)
        catalog.track(Team.managers.through, CustomField, SavedView)
        from crm import privacy

        privacy.register()
        from crm import registry
        from crm.auth import receivers
        from crm.services import compose, meetings

        compose.register()
        # A guest's calendar app answers an invitation by mail: the mailbox sync reads it.
        registry.inbound_mail_handlers.register(meetings.meeting_reply_from_email)

        receivers.connect()
        from crm.choices import AuditAction

        registry.audit_actions.register_choices(AuditAction)
        from crm.automation import retention as automation_retention

        registry.audit_actions.register(
            automation_retention.ACTION, "Retention: automation runs deleted"
        )
        registry.retention_rules.register(
            automation_retention.RULE,
            label="Automation run log",
            setting="RETENTION_AUTOMATION_RUNS_MONTHS",
            action=automation_retention.ACTION,
            count=automation_retention.automation_runs_count,
            apply=automation_retention.automation_runs_remove,
        )
        from crm.models import Contact
        from crm.selectors import consent_exists, consent_panel, consent_panel_of

        registry.detail_panels.register(
            Contact,
            registry.Panel(
                title="Consent",
                template="crm/panels/consent.html",
                context=lambda request, record: consent_panel(user=request.user, record=record),
                order=90,
                probe=lambda request: consent_exists(Contact),
                empty=lambda request, record: consent_panel_of(record, []),
            ),
        )
        from crm.models import Account
        from crm.views.customer_merges import merge_panel, merge_panel_probe

        for model in (Contact, Account):
            registry.detail_panels.register(
                model,
                registry.Panel(
                    title="Merged records",
                    template="crm/panels/merges.html",
                    context=merge_panel,
                    order=95,
                    probe=merge_panel_probe(model),
                ),
            )
        registry.navigation.register(
            "People", "people_list", group="admin", order=95, roles=[Role.ADMIN]
        )
        registry.navigation.register(
            "Audit", "audit_list", group="admin", order=96, roles=[Role.ADMIN]
        )
        from crm.history import connect_task_sources

        connect_task_sources()
        from crm.models import Account, Contact

        registry.navigation.register("Accounts", "account_list", group="customers", order=10)
        sellers = (Role.SALES_REP, Role.MANAGER, Role.ADMIN)
        registry.navigation.register_new(
            "Account", "account_create", list_url_name="account_list", order=20, roles=sellers
        )
        registry.navigation.register_new(
            "Contact", "contact_create", list_url_name="contact_list", order=30, roles=sellers
        )
        registry.navigation.register("Contacts", "contact_list", group="customers", order=20)
        registry.navigation.register("Tasks", "task_list", group="customers", order=25)
        registry.navigation.register(
            "Email templates", "email_template_list", group="sell", order=90, roles=sellers
        )
        registry.navigation.register(
            "Webhooks", "webhook_list", group="admin", order=97, roles=[Role.ADMIN]
        )
        registry.navigation.register(
            "Background work", "work_problems", group="admin", order=98, roles=[Role.ADMIN]
        )
        registry.notification_kinds.register("assigned", "Assigned to me")
        registry.notification_kinds.register("mentioned", "Mentioned in a note")
        registry.notification_kinds.register("task_due", "Task due")
        registry.notification_kinds.register("mailbox", "My mailbox needs attention")
        registry.timeline.register(Account)
        registry.timeline.register(Contact)
        from crm import bulk_actions

        bulk_actions.register()
        from crm.visibility import owner_in_scope

        # Who may change an account or contact may delete it: its owner, their managers, admins.
        registry.trash.register(
            Account, label="Account", may_delete=lambda u, o: owner_in_scope(u, o.owner_id)
        )
        registry.trash.register(
            Contact, label="Contact", may_delete=lambda u, o: owner_in_scope(u, o.owner_id)
        )
        registry.navigation.register(
            "Trash", "trash_list", group="admin", order=99, roles=[Role.ADMIN]
        )
        from crm.custom_fields.registry import custom_field_entities

        custom_field_entities.register(
            "account",
            Account,
            label="Accounts",
            singular="account",
            autocomplete="account_autocomplete",
        )
        custom_field_entities.register(
            "contact",
            Contact,
            label="Contacts",
            singular="contact",
            autocomplete="contact_autocomplete",
        )
        from crm.segments.custom_fields import custom_field_criteria
        from crm.segments.registry import segment_criteria

        # Custom fields as segment criteria, read when used; a target whose records carry no
        # custom fields (yet) gets none.
        for target in ("contact", "account", "lead"):
            segment_criteria.register_provider(target, custom_field_criteria(target))
        registry.navigation.register(
            "Custom fields", "custom_field_list", group="admin", order=98, roles=[Role.ADMIN]
        )
        from crm.forms import AccountForm, ContactForm
        from crm.services import customers
        from crm.services.history import restorer

        registry.history.register(
            Account,
            restore=restorer(customers.account_update, "account"),
            restorable=AccountForm.Meta.fields,
        )
        registry.history.register(
            Contact,
            restore=restorer(customers.contact_update, "contact"),
            restorable=ContactForm.Meta.fields,
        )
        registry.navigation.register(
            "Field history", "history_changes", group="admin", order=96, roles=[Role.ADMIN]
        )
        registry.search.register(
            Account,
            label="Accounts",
            fields=("name", "domain"),
            order_by=("name", "id"),
            select_related=("owner",),
            describe=lambda a: a.domain or a.get_lifecycle_stage_display(),
        )
        registry.search.register(
            Contact,
            label="Contacts",
            fields=("first_name", "last_name", "email", "title"),
            order_by=("last_name", "first_name", "id"),
            select_related=("account",),
            describe=lambda c: " · ".join(
                part for part in (c.email, c.account.name if c.account else "") if part
            ),
        )
        from crm.automation import actions as automation_actions
        from crm.automation import entities as automation_entities

        automation_entities.register()
        automation_actions.register()
        registry.notification_kinds.register("automation", "Automation rules")
        registry.navigation.register(
            "Automations",
            "rule_list",
            group="customers",
            order=99,
            roles=[Role.MANAGER, Role.ADMIN],
        )
        registry.work.register(
            "rule_runs",
            label="Automation rule runs",
            sweep="crm.automation.engine.rule_runs_sweep",
            pending="crm.automation.engine.rule_runs_pending",
            problems="crm.automation.engine.rule_runs_problems",
            retry="crm.automation.engine.rule_run_retry",
        )
        registry.work.register(
            "outbox",
            label="Outbound emails",
            sweep="crm.services.outbox.outbox_sweep",
            pending="crm.services.outbox.outbox_pending",
            problems="crm.services.outbox.outbox_problems",
            retry="crm.services.outbox.outbox_retry",
        )
        registry.work.register(
            "webhooks",
            label="Webhook deliveries",
            sweep="crm.webhooks.delivery.webhook_sweep",
            pending="crm.webhooks.delivery.webhook_pending",
            problems="crm.webhooks.delivery.webhook_problems",
            retry="crm.webhooks.delivery.webhook_retry",
        )
        registry.work.register(
            "mail_logging",
            label="Logging address mailbox",
            sweep="crm.mail.logging_address.mail_logging_sweep",
            problems="crm.mail.logging_address.mail_logging_problems",
            retry="crm.mail.logging_address.mail_logging_retry",
        )
        registry.work.register(
            "notification_digests",
            label="Notification digests",
            sweep="crm.services.notifications.notification_digests_sweep",
            problems="crm.services.notifications.notification_digests_problems",
            retry="crm.services.notifications.notification_digests_retry",
        )
        registry.work.register(
            "mailboxes",
            label="Mailbox syncs",
            sweep="crm.mail.sync.mailbox_sync_sweep",
            pending="crm.mail.sync.mailbox_sync_pending",
            problems="crm.mail.sync.mailbox_sync_problems",
            retry="crm.mail.sync.mailbox_sync_retry",
        )
        self._register_webhook_events()
        from crm.views.home import recent_activity_widget, tasks_widget

        registry.home_widgets.register(
            registry.HomeWidget(
                title="Operations",
                template="crm/_home_work.html",
                context=_work_widget,
                order=5,
                focus=frozenset({Role.ADMIN}),
                url_name="work_problems",
            )
        )
        registry.home_widgets.register(
            registry.HomeWidget(
                title="My tasks today",
                template="crm/_home_tasks.html",
                context=tasks_widget,
                order=10,
                focus=frozenset({Role.SALES_REP}),
                url_name="task_list",
            )
        )
        registry.home_widgets.register(
            registry.HomeWidget(
                title="Recent activity",
                template="crm/_home_recent.html",
                context=recent_activity_widget,
                order=900,
                aside=True,
            )
        )
        self._register_segments()
        self._register_meetings()
        from crm.tabular import records

        records.register()
        registry.work.register(
            "tabular_imports",
            label="Record imports (CSV and XLSX)",
            sweep="crm.tabular.imports.tabular_import_sweep",
            pending="crm.tabular.imports.tabular_import_pending",
            problems="crm.tabular.imports.tabular_import_problems",
            retry="crm.tabular.imports.tabular_import_retry",
        )
        registry.api.register("accounts", "crm.api.resources.AccountViewSet")
        registry.api.register("contacts", "crm.api.resources.ContactViewSet")
        registry.api.register("activities", "crm.api.resources.ActivityViewSet")
        registry.api.register("tasks", "crm.api.resources.TaskViewSet")
        registry.api.register("segments", "crm.api.resources.SegmentViewSet")
        registry.api.register("users", "crm.api.resources.UserViewSet")
        registry.api.register("teams", "crm.api.resources.TeamViewSet")

    def _register_meetings(self):
        from crm import registry
        from crm.models import Account, Contact
        from crm.services.meetings import (
            MEETING_INVITE_ATTACHMENT,
            RESPONSE_NOTIFICATION,
            meeting_invite_attachment,
        )
        from crm.views.home import todays_meetings_widget

        registry.meeting_subjects.register(
            Contact, invitees=lambda c: [(c.email, c.full_name, c)] if c.email else []
        )
        registry.meeting_subjects.register(
            Account,
            invitees=lambda a: [
                (c.email, c.full_name, c)
                for c in a.contacts.exclude(email="").order_by("last_name", "id")[:10]
            ],
        )
        registry.email_attachments.register(MEETING_INVITE_ATTACHMENT, meeting_invite_attachment)
        registry.notification_kinds.register(RESPONSE_NOTIFICATION, "Answers to my invitations")
        registry.navigation.register("Meetings", "meeting_list", group="customers", order=26)
        registry.home_widgets.register(
            registry.HomeWidget(
                title="My meetings today",
                template="crm/meetings/_home_today.html",
                context=todays_meetings_widget,
                order=11,
                focus=frozenset({Role.SALES_REP}),
                url_name="meeting_list",
            )
        )

    def _register_webhook_events(self):
        from crm import registry

        events = registry.webhook_events
        account_fields = (
            "id",
            "name",
            "domain",
            "industry",
            "size",
            "country",
            "lifecycle_stage",
            "owner",
            "created_at",
            "url",
        )
        contact_fields = (
            "id",
            "first_name",
            "last_name",
            "email",
            "phone",
            "title",
            "account",
            "owner",
            "email_consent",
            "marketing_consent",
            "created_at",
            "url",
        )
        events.register(
            "automation.rule_fired",
            label="Automation rule fired",
            description="An automation rule's “Call the webhooks” step ran: which rule, on which "
            "record, and what fired it.",
            payload="crm.automation.actions.rule_fired_data",
            fields=("id", "type", "url", "rule", "run_id", "event"),
        )
        events.register(
            "account.created",
            label="Account created",
            description="An account was created: by hand, or by converting a lead.",
            payload="crm.webhooks.payloads.account_data",
            fields=account_fields,
        )
        events.register(
            "contact.created",
            label="Contact created",
            description="A contact was created: by hand, by converting a lead, or by an "
            "inbound support email from a new address.",
            payload="crm.webhooks.payloads.contact_data",
            fields=contact_fields,
        )
        events.register(
            "contact.unsubscribed",
            label="Contact unsubscribed",
            description="A contact clicked unsubscribe in a marketing email (marketing consent "
            "withdrawn, address suppressed); once per unsubscribe.",
            payload="crm.webhooks.payloads.contact_data",
            fields=contact_fields,
        )

    def _register_segments(self):
        from crm import registry
        from crm.segments import admin as segment_admin  # noqa: F401  (registers the admin)
        from crm.segments import criteria

        criteria.register()
        registry.navigation.register("Segments", "segment_list", group="marketing", order=50)
        registry.navigation.register_new(
            "Segment", "segment_create", list_url_name="segment_list", order=80
        )
        # The demo data's steps are named by path: seed code is imported only by seed_demo.
        registry.seed_steps.register("crm", "crm.seeding.core.seed_core", order=0)
        registry.seed_steps.register("email", "crm.mail.seed.seed", order=30)
        registry.seed_steps.register("segments", "crm.segments.seed.seed", order=90)
        registry.seed_steps.register(
            "email templates", "crm.seeding.email_templates.seed", order=91
        )
        registry.seed_steps.register(
            "matching keys and quality scores",
            "crm.seeding.run.seed_match_keys_and_quality",
            order=98,
        )


def _work_widget(request):
    from crm.views.work import work_widget

    return work_widget(request)
