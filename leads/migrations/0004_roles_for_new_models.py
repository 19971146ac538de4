from django.db import migrations

from crm.choices import Role
from crm.roles import ALL, grant_role_permissions

GRANTS = {
    Role.SALES_REP: {"sequence": ("view",), "sequencestep": ("view",), "enrollment": ALL},
    Role.MANAGER: {
        "sequence": ALL,
        "sequencestep": ALL,
        "enrollment": ALL,
        "importjob": ALL,
        "importrowerror": ("view",),
        "assignmentrule": ALL,
        "scoringrule": ("view",),
    },
}


def grant(apps, schema_editor):
    grant_role_permissions(apps, "leads", GRANTS)


class Migration(migrations.Migration):
    dependencies = [("leads", "0003_scoring_assignment_imports_sequences")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
