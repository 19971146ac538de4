from django.apps import AppConfig

from crm.choices import Role

SELLERS = (Role.SALES_REP, Role.MANAGER, Role.ADMIN)


class LeadsConfig(AppConfig):
    """Lead generation and qualification, and the marketing that nurtures leads."""

    name = "leads"

    def ready(self):
        from crm.custom_fields.registry import custom_field_entities
        from leads.models import Lead

        custom_field_entities.register("lead", Lead, label="Leads", singular="lead")
        from crm import catalog
        from leads.models import Campaign, Sequence

        catalog.track(Campaign, Sequence)  # their tables' triggers: leads 0025
        from leads import privacy

        privacy.register()
        from crm import registry
        from leads.mail import lead_replied_by_mail, leads_of_addresses
        from leads.models import Lead

        registry.mail_link_finders.register(leads_of_addresses)
        registry.mail_reply_hooks.register(lead_replied_by_mail)
        from leads.widgets import (
            open_lead_counts,
            open_leads,
            overdue_follow_ups,
            register_home_task_list,
        )

        registry.navigation.register(
            "Leads", "leads:lead_list", group="sell", order=5, roles=SELLERS
        )
        registry.navigation.register_new(
            "Lead", "leads:lead_create", list_url_name="leads:lead_list", order=10, roles=SELLERS
        )
        from crm.selectors import consent_exists, consent_panel, consent_panel_of

        registry.detail_panels.register(
            Lead,
            registry.Panel(
                title="Consent",
                template="crm/panels/consent.html",
                context=lambda request, record: consent_panel(user=request.user, record=record),
                order=90,
                probe=lambda request: consent_exists(Lead),
                empty=lambda request, record: consent_panel_of(record, []),
            ),
        )
        registry.navigation.register(
            "Sequences", "leads:sequence_list", group="marketing", order=60, roles=SELLERS
        )
        registry.navigation.register(
            "Email campaigns",
            "leads:email_campaign_list",
            group="marketing",
            order=65,
            roles=(Role.MANAGER, Role.ADMIN),
        )
        registry.navigation.register(
            "Import leads",
            "leads:import_start",
            group="marketing",
            order=80,
            roles=(Role.MANAGER, Role.ADMIN),
        )
        registry.timeline.register(Lead)
        from leads.services.compose import register as compose_register

        compose_register()
        registry.navigation.register(
            "Booking page", "leads:booking_settings", group="sell", order=14, roles=SELLERS
        )
        registry.notification_kinds.register("meeting_booked", "Meetings booked on my page")
        registry.meeting_subjects.register(
            Lead, invitees=lambda lead: [(lead.email, lead.full_name, None)] if lead.email else []
        )
        from crm.visibility import owner_in_scope

        registry.trash.register(
            Lead, label="Lead", may_delete=lambda u, o: owner_in_scope(u, o.owner_id)
        )
        from leads.choices import LeadAuditAction

        registry.audit_actions.register_choices(LeadAuditAction)
        from crm.models import Contact

        registry.detail_panels.register(
            Contact,
            registry.Panel(
                title="Leads merged into this contact",
                template="leads/_contact_merges_panel.html",
                context=contact_merges_panel,
                order=90,
                probe=contact_merges_probe,
            ),
        )
        from crm.services.history import restorer
        from leads.forms import LEAD_FORM_FIELDS
        from leads.services.leads import lead_update

        registry.history.register(
            Lead, restore=restorer(lead_update, "lead"), restorable=LEAD_FORM_FIELDS
        )
        from leads import tabular

        tabular.register()
        registry.search.register(
            Lead,
            label="Leads",
            fields=("first_name", "last_name", "email", "company_name", "website"),
            order_by=("-created_at", "-id"),
            select_related=("owner",),
            describe=lambda lead: " · ".join(
                part for part in (lead.email, lead.get_status_display()) if part
            ),
            roles=SELLERS,
        )
        register_home_task_list()
        registry.home_widgets.register(
            registry.HomeWidget(
                title="Overdue lead follow-ups",
                template="leads/_home_followups.html",
                context=overdue_follow_ups,
                order=30,
                focus=frozenset({Role.SALES_REP}),
            )
        )
        registry.home_widgets.register(
            registry.HomeWidget(
                title="Open leads",
                template="leads/_home_open_leads.html",
                context=open_leads,
                figures=open_lead_counts,
                order=25,
                focus=frozenset({Role.SALES_REP}),
                url_name="leads:lead_list",
            )
        )
        _register_seed_step()
        _register_work()
        _register_retention()
        from leads.webhooks import register_events

        register_events()
        registry.api.register("leads", "leads.api.LeadViewSet")
        registry.api.register("campaigns", "leads.api.CampaignViewSet")

        from leads.segments import register_lead_criteria

        register_lead_criteria()
        from leads import automation as rules_automation

        rules_automation.register()
        from leads.campaigns.segments import register_segment_criteria

        register_segment_criteria()


def contact_merges_probe(request):
    """Whether the contact ``OuterRef("pk")`` has a lead merged into it, not undone (the panel
    then reads those the user may undo)."""
    from leads.selectors import contact_recent_merges_exist

    return contact_recent_merges_exist()


def contact_merges_panel(request, contact):
    """Leads merged into the contact that the user may still undo; hidden when there are none."""
    from leads.selectors import contact_recent_merges

    merges = contact_recent_merges(user=request.user, contact=contact)
    return {"merges": merges} if merges else None


def _register_seed_step():
    from crm.registry import seed_steps

    # After the sales step: a converted lead is written as the account (one that won a deal)
    # and contact it became.
    seed_steps.register("leads", "leads.seed.seed", order=22)
    seed_steps.register("meetings", "leads.booking.seed.seed", order=25)
    # After the sales step's won deals and the segments step: campaigns mail a segment and are
    # credited with won deals.
    seed_steps.register("email campaigns", "leads.seed_campaigns.seed", order=95)


def _register_work():
    """Imports and segment enrolments are durable rows: the sweep wakes a worker for any that
    is due and not held by a live run (crm/work.py)."""
    from crm.registry import work

    work.register(
        "lead_imports",
        label="Lead imports",
        sweep="leads.services.imports.import_sweep",
        pending="leads.services.imports.import_pending",
        problems="leads.services.imports.import_problems",
        retry="leads.services.imports.import_retry",
    )
    work.register(
        "segment_enrolments",
        label="Segment enrolments into sequences",
        sweep="leads.services.segment_enrolments.segment_enrolment_sweep",
        pending="leads.services.segment_enrolments.segment_enrolment_pending",
        problems="leads.services.segment_enrolments.segment_enrolment_problems",
        retry="leads.services.segment_enrolments.segment_enrolment_retry",
    )


def _register_retention():
    from crm import registry
    from leads import retention

    registry.audit_actions.register(retention.ACTION, "Retention: unconverted leads deleted")
    registry.retention_rules.register(
        retention.RULE,
        label="Unconverted leads",
        setting="RETENTION_UNCONVERTED_LEADS_MONTHS",
        action=retention.ACTION,
        count=retention.unconverted_leads_count,
        apply=retention.unconverted_leads_purge,
    )
