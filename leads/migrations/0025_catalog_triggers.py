from django.db import migrations

from crm.catalog import catalog_triggers


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0034_catalog_version"),
        ("leads", "0024_campaign_credit_currency_index"),
    ]

    operations = [
        catalog_triggers("leads_campaign"),
        catalog_triggers("leads_sequence"),
    ]
