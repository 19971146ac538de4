from django.db import migrations

from crm.catalog import catalog_triggers


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0034_catalog_version"),
        ("sales", "0012_opportunity_currency_index"),
    ]

    operations = [
        catalog_triggers("sales_pipeline"),
        catalog_triggers("sales_stage"),
    ]
