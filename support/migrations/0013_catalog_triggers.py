from django.db import migrations

from crm.catalog import catalog_triggers


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0034_catalog_version"),
        ("support", "0012_track_custom_fields_history"),
    ]

    operations = [
        # A queue's round-robin cursor moves with every ticket assigned: no change of the catalog.
        catalog_triggers(
            "support_queue", ("name", "team_id", "assignment_mode", "email_address", "is_default")
        ),
        catalog_triggers("support_businesscalendar"),
        catalog_triggers("support_businesshours"),
        catalog_triggers("support_holiday"),
    ]
