from django.db import migrations

from crm.catalog import catalog_triggers


class Migration(migrations.Migration):
    dependencies = [
        ("support", "0013_catalog_triggers"),
    ]

    operations = [
        catalog_triggers("support_slapolicy"),
    ]
