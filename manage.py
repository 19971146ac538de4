#!/usr/bin/env python
"""Django's command-line utility for administrative tasks."""

import os
import sys


def main():
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.base")
    from django.core.management import execute_from_command_line

    from crm.localdb import EmbeddedDatabaseError

    try:
        execute_from_command_line(sys.argv)
    except EmbeddedDatabaseError as error:
        # A new user's setup problem (no wheel, var/ not writable, disk full): one line saying
        # what to do, not a traceback.
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
