from django.db import migrations

from crm.choices import Role
from crm.roles import ALL, grant_role_permissions
from crm.text_search import CreateSearchIndex

GRANTS = {
    Role.SALES_REP: {"account": ALL, "contact": ALL, "activity": ALL, "task": ALL},
    Role.SUPPORT_AGENT: {
        "account": ("view",),
        "contact": ("view",),
        "activity": ("view", "add"),
        "task": ALL,
    },
    Role.MANAGER: {
        "account": ALL,
        "contact": ALL,
        "activity": ALL,
        "task": ALL,
        "team": ("view", "change"),
        "user": ("view",),
        "outboundemail": ("view",),
    },
}


def make_roles(apps, schema_editor):
    grant_role_permissions(apps, "crm", GRANTS)


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RunPython(make_roles, migrations.RunPython.noop),
        CreateSearchIndex("crm_account", ["name", "domain"], "account_search_idx"),
        CreateSearchIndex(
            "crm_contact", ["first_name", "last_name", "email", "title"], "contact_search_idx"
        ),
    ]
