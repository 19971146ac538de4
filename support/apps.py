from django.apps import AppConfig


class SupportConfig(AppConfig):
    """The support desk: tickets, queues, SLAs, escalations and CSAT."""

    name = "support"

    def ready(self):
        from crm.custom_fields.registry import custom_field_entities
        from support.models import Ticket

        custom_field_entities.register("ticket", Ticket, label="Tickets", singular="ticket")
        from crm import catalog
        from support.models import BusinessCalendar, BusinessHours, Holiday, Queue, SLAPolicy

        # Their tables' triggers: support 0013 and 0014.
        catalog.track(Queue, BusinessCalendar, BusinessHours, Holiday, SLAPolicy)
        from support import privacy

        privacy.register()
        from crm import registry
        from support.webhooks import register_events

        register_events()
        registry.notification_kinds.register("sla_warning", "SLA warning")
        from crm.choices import Role
        from crm.models import Account, Contact
        from support import surveys
        from support.models import Ticket
        from support.registrations import (
            account_panel,
            account_panel_probe,
            contact_panel,
            contact_panel_probe,
            describe_ticket,
            my_queue_widget,
        )
        from support.views.public import csat_survey

        desk = [Role.SUPPORT_AGENT, Role.MANAGER, Role.ADMIN]
        registry.navigation.register(
            "My queue", "support:my_queue", group="support", order=10, roles=desk
        )
        registry.navigation.register("Tickets", "support:ticket_list", group="support", order=20)
        # Every role reads the knowledge base (reps: published articles); the desk writes it.
        registry.navigation.register(
            "Knowledge base", "support:article_list", group="support", order=30
        )
        registry.navigation.register_new(
            "Ticket",
            "support:ticket_create",
            list_url_name="support:ticket_list",
            order=40,
            roles=desk,
        )
        registry.timeline.register(Ticket)
        registry.home_widgets.register(
            registry.HomeWidget(
                title="My queue",
                template="support/_home_queue.html",
                context=my_queue_widget,
                order=15,
                focus=frozenset({Role.SUPPORT_AGENT}),
                url_name="support:my_queue",
            )
        )
        from crm.permissions import may_delete_deals_and_tickets
        from crm.visibility import changeable

        registry.trash.register(
            Ticket,
            label="Ticket",
            may_delete=lambda u, o: may_delete_deals_and_tickets(u) and changeable(u, o),
            owner="assignee",
        )
        from support.choices import SupportAuditAction

        registry.audit_actions.register_choices(SupportAuditAction)
        from support.registrations import TICKET_RESTORABLE, ticket_restore

        registry.history.register(Ticket, restore=ticket_restore, restorable=TICKET_RESTORABLE)
        registry.api.register("tickets", "support.api.TicketViewSet")
        registry.api.register("articles", "support.api.ArticleViewSet")
        from support.models import Article

        registry.history.register(Article)
        from support.registrations import describe_article

        registry.search.register(
            Article,
            label="Knowledge base",
            fields=("title", "summary"),
            order_by=("-updated_at", "-id"),
            select_related=("category",),
            describe=describe_article,
        )
        from support import retention

        registry.audit_actions.register(
            retention.ACTION, "Retention: closed tickets' bodies removed"
        )
        registry.retention_rules.register(
            retention.RULE,
            label="Closed tickets' bodies",
            setting="RETENTION_CLOSED_TICKET_BODIES_MONTHS",
            action=retention.ACTION,
            count=retention.closed_ticket_bodies_count,
            apply=retention.closed_ticket_bodies_remove,
        )
        registry.audit_actions.register(
            retention.SEARCHES_ACTION, "Retention: help-centre searches deleted"
        )
        registry.retention_rules.register(
            retention.SEARCHES_RULE,
            label="Help-centre searches",
            setting="RETENTION_HELP_SEARCHES_MONTHS",
            action=retention.SEARCHES_ACTION,
            count=retention.help_searches_count,
            apply=retention.help_searches_remove,
        )
        from support import tabular

        tabular.register()
        registry.search.register(
            Ticket,
            label="Tickets",
            fields=("reference", "subject"),
            order_by=("-created_at", "-id"),
            select_related=("account",),
            describe=describe_ticket,
        )
        registry.detail_panels.register(
            Account,
            registry.Panel(
                title="Support",
                template="support/_support_panel.html",
                context=account_panel,
                probe=account_panel_probe,
            ),
        )
        registry.detail_panels.register(
            Contact,
            registry.Panel(
                title="Support",
                template="support/_support_panel.html",
                context=contact_panel,
                probe=contact_panel_probe,
            ),
        )
        surveys.register("csat", csat_survey)
        from crm.registry import seed_steps

        seed_steps.register("support", "support.seed.seed", order=30)
        seed_steps.register("knowledge base", "support.seed_kb.seed", order=31)
        from support.segments import register_segment_criteria

        register_segment_criteria()
        from support.segments import register_ticket_target

        register_ticket_target()
        from support import automation as rules_automation

        rules_automation.register()
