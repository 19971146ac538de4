from django.apps import AppConfig


class SalesConfig(AppConfig):
    """Pipelines, opportunities, quotes, orders, forecasting and onboarding of won customers."""

    name = "sales"

    def ready(self):
        from crm.custom_fields.registry import custom_field_entities
        from sales.models import Opportunity

        custom_field_entities.register("opportunity", Opportunity, label="Deals", singular="deal")
        from crm import catalog
        from sales.models import Pipeline, Stage

        catalog.track(Pipeline, Stage)  # their tables' triggers: sales 0013
        from sales import privacy

        privacy.register()
        from leads.signals import lead_converted
        from sales.registrations import register_all
        from sales.services.opportunities import on_lead_converted

        lead_converted.connect(on_lead_converted, dispatch_uid="sales.on_lead_converted")
        register_all()
        from crm import registry
        from sales.mail import open_deals_of_correspondents

        registry.mail_link_finders.register(open_deals_of_correspondents)
        registry.notification_kinds.register("deal_won", "Deal won in my team")
        from sales.webhooks import register_events

        register_events()
        from sales import tabular

        tabular.register()
        from sales.segments import register_segment_criteria

        register_segment_criteria()
        from sales.segments import register_deal_target

        register_deal_target()
        from sales import automation as rules_automation

        rules_automation.register()
