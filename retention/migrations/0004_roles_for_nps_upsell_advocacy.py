from django.db import migrations

from crm.choices import Role
from crm.roles import ALL, grant_role_permissions

VIEW = ("view",)

GRANTS = {
    Role.SALES_REP: {
        "npsrun": VIEW,
        "npssurvey": VIEW,
        "productassociation": VIEW,
        "recommendation": ("view", "change"),
        "advocate": ("view", "change"),
        "referral": VIEW,
        "testimonialrequest": ("view", "add", "change"),
    },
    Role.SUPPORT_AGENT: {"npssurvey": VIEW, "advocate": VIEW},
    Role.MANAGER: {
        "npsrun": ALL,
        "npssurvey": VIEW,
        "productassociation": VIEW,
        "recommendation": ALL,
        "advocate": ALL,
        "referral": ALL,
        "testimonialrequest": ALL,
    },
}


def forwards(apps, schema_editor):
    grant_role_permissions(apps, "retention", GRANTS)


class Migration(migrations.Migration):
    dependencies = [("retention", "0003_nps_upsell_advocacy")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
