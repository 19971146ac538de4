"""Setting up a process spawned to share a job's work (the demo seed's keys step): Django, and a
connection to the database its parent uses. Importable before Django is set up, as a spawned
process imports its initializer before running it."""


def django_start(settings_dict: dict) -> None:
    """Set Django up and point the default connection at ``settings_dict`` (the parent's: a
    test's database has another name than the settings give)."""
    import django

    django.setup()
    from django.db import connections

    connections["default"].settings_dict = settings_dict
