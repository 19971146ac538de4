from django.db import migrations

from crm.choices import Role
from crm.roles import ALL, grant_role_permissions
from crm.text_search import CreateSearchIndex

VIEW = ("view",)

GRANTS = {
    Role.SALES_REP: {
        "subscription": ALL,
        "mrrmovement": VIEW,
        "renewal": VIEW,
        "churnevent": ("view", "add"),
        "riskepisode": VIEW,
        "healthscore": VIEW,
        "healthscorehistory": VIEW,
        "healthcomponent": VIEW,
        "churnprediction": VIEW,
        "usageevent": VIEW,
        "usagedaily": VIEW,
    },
    Role.SUPPORT_AGENT: {
        "riskepisode": VIEW,
        "healthscore": VIEW,
        "healthscorehistory": VIEW,
        "healthcomponent": VIEW,
        "usageevent": VIEW,
        "usagedaily": VIEW,
    },
    Role.MANAGER: {
        "subscription": ALL,
        "mrrmovement": VIEW,
        "renewal": VIEW,
        "churnevent": ALL,
        "riskepisode": ALL,
        "healthscore": VIEW,
        "healthscorehistory": VIEW,
        "healthcomponent": VIEW,
        "churnprediction": VIEW,
        "churnmodelrun": VIEW,
        "usageevent": ALL,
        "usagedaily": VIEW,
    },
}

COMPONENTS = [
    ("usage_trend", 30, "Product usage of the last 30 days against the 30 before."),
    ("support_load", 20, "Open tickets and SLA breaches of the last 90 days."),
    ("sentiment", 20, "The latest NPS answer and CSAT rating."),
    ("engagement", 20, "Days since the last call, email, meeting or note."),
    ("renewal_proximity", 10, "How close the nearest renewal is."),
]


def forwards(apps, schema_editor):
    grant_role_permissions(apps, "retention", GRANTS)
    HealthComponent = apps.get_model("retention", "HealthComponent")
    for key, weight, description in COMPONENTS:
        HealthComponent.objects.get_or_create(
            key=key, defaults={"weight": weight, "description": description}
        )


class Migration(migrations.Migration):
    dependencies = [
        ("retention", "0001_initial"),
        ("crm", "0002_roles_and_search"),
    ]

    operations = [
        migrations.RunPython(forwards, migrations.RunPython.noop),
        CreateSearchIndex("retention_subscription", ["plan", "product_sku"], "subscription_search_idx"),
    ]
