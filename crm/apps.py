from django.apps import AppConfig


class CrmConfig(AppConfig):
    """The shared customer core: users and roles, accounts, contacts, timeline, tasks, outbox."""

    name = "crm"
    verbose_name = "CRM core"

    def ready(self):
        from crm import registry
        from crm.auth import receivers

        receivers.connect()
        from crm.models import Account, Contact

        registry.navigation.register("Accounts", "account_list", order=10)
        registry.navigation.register("Contacts", "contact_list", order=20)
        registry.navigation.register("Tasks", "task_list", order=90)
        registry.timeline.register(Account)
        registry.timeline.register(Contact)
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
        registry.work.register(
            "outbox",
            label="Outbound emails",
            sweep="crm.services.outbox.outbox_sweep",
            problems="crm.services.outbox.outbox_problems",
            retry="crm.services.outbox.outbox_retry",
        )
        registry.home_widgets.register(
            registry.HomeWidget(
                title="Background work",
                template="crm/_home_work.html",
                context=_work_widget,
                order=200,
            )
        )
        self._register_segments()
        from crm.tabular import records

        records.register()
        registry.work.register(
            "tabular_imports",
            label="Record imports (CSV and XLSX)",
            sweep="crm.tabular.imports.tabular_import_sweep",
            problems="crm.tabular.imports.tabular_import_problems",
            retry="crm.tabular.imports.tabular_import_retry",
        )

    def _register_segments(self):
        from crm import registry
        from crm.segments import admin as segment_admin  # noqa: F401  (registers the admin)
        from crm.segments import criteria

        criteria.register()
        registry.navigation.register("Segments", "segment_list", order=30)
        # The demo data's steps are named by path: seed code is imported only by seed_demo.
        registry.seed_steps.register("crm", "crm.seeding.core.seed_core", order=0)
        registry.seed_steps.register("segments", "crm.segments.seed.seed", order=90)


def _work_widget(request):
    from crm.views.work import work_widget

    return work_widget(request)
