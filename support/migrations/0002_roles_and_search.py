from django.db import migrations

from crm.choices import Role
from crm.roles import ALL, grant_role_permissions
from crm.text_search import CreateSearchIndex

READ = ("view",)

GRANTS = {
    Role.SALES_REP: {"ticket": READ, "ticketmessage": READ, "attachment": READ, "csatsurvey": READ},
    Role.SUPPORT_AGENT: {
        "ticket": ("view", "add", "change"),
        "ticketmessage": ("view", "add"),
        "attachment": ("view", "add"),
        "cannedreply": ALL,
        "tag": ALL,
        "csatsurvey": READ,
        "queue": READ,
        "queueagent": READ,
        "slapolicy": READ,
        "businesscalendar": READ,
        "businesshours": READ,
        "holiday": READ,
    },
    Role.MANAGER: {
        model: ALL
        for model in (
            "ticket",
            "ticketmessage",
            "attachment",
            "cannedreply",
            "tag",
            "csatsurvey",
            "queue",
            "queueagent",
            "slapolicy",
            "businesscalendar",
            "businesshours",
            "holiday",
        )
    },
}


def make_roles(apps, schema_editor):
    grant_role_permissions(apps, "support", GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("support", "0001_initial"),
        ("crm", "0002_roles_and_search"),
    ]

    operations = [
        migrations.RunPython(make_roles, migrations.RunPython.noop),
        CreateSearchIndex("support_ticket", ["reference", "subject"], "ticket_search_idx"),
    ]
