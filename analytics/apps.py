from django.apps import AppConfig

from crm.choices import Role


class AnalyticsConfig(AppConfig):
    """Dashboards and the models behind them (pipeline, funnel, support, churn, CLV)."""

    name = "analytics"

    def ready(self):
        from crm import registry

        registry.navigation.register(
            "Dashboards",
            "analytics:index",
            group="insights",
            order=1,
            roles=(Role.MANAGER, Role.ADMIN),
        )
        from analytics.widgets import team_figures, team_figures_block

        registry.home_widgets.register(
            registry.HomeWidget(
                title="Team figures",
                template="analytics/_home_team.html",
                context=team_figures_block,
                figures=team_figures,
                order=8,
                focus=frozenset({Role.MANAGER}),
                url_name="analytics:index",
            )
        )
        _register_seed_step()
        # The CLV refit, snapshots and rollups are claimed with a lease (analytics/services.py):
        # the sweep starts again a job whose worker died, and a refit whose message was lost.
        registry.work.register(
            "analytics_jobs",
            label="Analytics recomputes",
            sweep="analytics.services.jobs_sweep",
            problems="analytics.services.jobs_problems",
            retry="analytics.services.jobs_retry",
        )


def _register_seed_step():
    from crm.registry import seed_steps

    seed_steps.register("analytics", "analytics.seed.seed", order=100)
    # Last, committing month by month: the dashboards' rollups read every other step's rows.
    seed_steps.register("rollups", "analytics.seed.seed_rollups", order=1000, atomic=False)
