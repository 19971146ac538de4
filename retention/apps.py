from django.apps import AppConfig


class RetentionConfig(AppConfig):
    """Subscriptions, renewals, health, churn risk, expansion and advocacy."""

    name = "retention"

    def ready(self):
        from crm.custom_fields.registry import custom_field_entities
        from retention.models import Subscription

        custom_field_entities.register(
            "subscription", Subscription, label="Subscriptions", singular="subscription"
        )
        from retention import privacy

        privacy.register()
        from crm import registry
        from retention.webhooks import register_events

        register_events()
        from crm.choices import Role
        from crm.models import Account
        from leads.signals import lead_converted
        from retention import receivers, selectors
        from retention.models import Subscription
        from retention.views import public
        from sales.signals import opportunity_lost, opportunity_won
        from support import surveys

        revenue_roles = (Role.SALES_REP, Role.MANAGER, Role.ADMIN)
        registry.navigation.register(
            "Subscriptions",
            "retention:subscription_list",
            group="customers",
            order=40,
            roles=revenue_roles,
        )
        registry.navigation.register(
            "Renewals", "retention:renewals", group="sell", order=20, roles=revenue_roles
        )
        registry.navigation.register_new(
            "Subscription",
            "retention:subscription_create",
            list_url_name="retention:subscription_list",
            order=50,
            roles=revenue_roles,
        )
        registry.navigation.register("At risk", "retention:at_risk", group="insights", order=30)
        registry.timeline.register(Subscription)
        from retention import bulk

        bulk.register()
        from crm.services.history import restorer
        from retention.services.subscriptions import EDITABLE_FIELDS, subscription_update

        registry.history.register(
            Subscription,
            restore=restorer(subscription_update, "subscription"),
            restorable=EDITABLE_FIELDS,
        )
        registry.api.register("subscriptions", "retention.api.SubscriptionViewSet")
        from retention import tabular

        tabular.register()
        registry.detail_panels.register(
            Account,
            registry.Panel(
                title="Health",
                template="retention/panels/health.html",
                context=lambda request, account: selectors.account_health(
                    user=request.user, account=account
                ),
                order=20,
                probe=lambda request: selectors.account_health_probe(user=request.user),
                empty=lambda request, account: selectors.account_health_empty(),
                from_probe=lambda request, account, value: selectors.account_health_from_probe(
                    account=account, value=value
                ),
            ),
        )
        registry.detail_panels.register(
            Account,
            registry.Panel(
                title="Subscriptions",
                template="retention/panels/subscriptions.html",
                context=lambda request, account: selectors.account_subscriptions(
                    user=request.user, account=account
                ),
                order=30,
                probe=lambda request: selectors.account_subscriptions_probe(user=request.user),
                empty=lambda request, account: selectors.account_subscriptions_empty(
                    user=request.user, account=account
                ),
            ),
        )
        # Inside the closing transaction (DESIGN.md): the subscription commits with the win.
        opportunity_won.connect(
            receivers.on_opportunity_won, dispatch_uid="retention.on_opportunity_won"
        )
        opportunity_lost.connect(
            receivers.on_opportunity_lost, dispatch_uid="retention.on_opportunity_lost"
        )
        lead_converted.connect(
            receivers.on_lead_converted, dispatch_uid="retention.on_lead_converted"
        )
        surveys.register("nps", public.nps_survey)
        from crm.registry import seed_steps

        seed_steps.register("retention", "retention.seed.seed", order=40)
        registry.detail_panels.register(
            Account,
            registry.Panel(
                title="Upsell",
                template="retention/panels/upsell.html",
                context=lambda request, account: selectors.account_recommendations(
                    user=request.user, account=account
                ),
                order=35,
                probe=lambda request: selectors.account_recommendations_probe(user=request.user),
                empty=lambda request, account: selectors.account_recommendations_empty(
                    user=request.user, account=account
                ),
            ),
        )
        registry.navigation.register(
            "Upsell", "retention:upsell", group="sell", order=21, roles=revenue_roles
        )
        registry.navigation.register("NPS", "retention:nps", group="marketing", order=70)
        registry.navigation.register("Advocacy", "retention:advocacy", group="marketing", order=71)
        # Durable work (crm/work.py): the sweep wakes a worker for what is due and not held.
        registry.work.register(
            "nps_runs",
            label="NPS survey runs",
            sweep="retention.services.nps.nps_run_sweep",
            pending="retention.services.nps.nps_run_pending",
            problems="retention.services.nps.nps_run_problems",
            retry="retention.services.nps.nps_run_retry",
        )
        registry.work.register(
            "risk_playbooks",
            label="Churn risk playbooks",
            sweep="retention.services.risk.risk_playbook_sweep",
            problems="retention.services.risk.risk_playbook_problems",
            retry="retention.services.risk.risk_playbook_retry",
        )
        from retention.segments import register_segment_criteria

        register_segment_criteria()
        from retention import automation as rules_automation

        rules_automation.register()
