from django.db import migrations

from crm.choices import Role
from crm.roles import ALL, grant_role_permissions
from crm.text_search import CreateSearchIndex

GRANTS = {
    Role.SALES_REP: {"lead": ALL, "campaign": ("view",)},
    Role.MANAGER: {"lead": ALL, "campaign": ALL},
}


def grant(apps, schema_editor):
    grant_role_permissions(apps, "leads", GRANTS)


class Migration(migrations.Migration):
    dependencies = [("leads", "0001_initial"), ("crm", "0002_roles_and_search")]

    operations = [
        migrations.RunPython(grant, migrations.RunPython.noop),
        CreateSearchIndex(
            "leads_lead",
            ["first_name", "last_name", "email", "company_name", "website"],
            "lead_search_idx",
        ),
    ]
