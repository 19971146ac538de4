"""Recompute the duplicate-matching columns of every lead, contact and account.

The services keep them as records change; run this after loading rows around the services (a
restore from another system) or after changing the matching rules.
"""

from django.core.management.base import BaseCommand

from crm.services.duplicates import match_keys_refresh


class Command(BaseCommand):
    help = "Recompute the duplicate-matching keys of leads, contacts and accounts."

    def handle(self, *args, **options):
        for model, seen, changed in match_keys_refresh():
            name = model._meta.verbose_name_plural
            self.stdout.write(f"{name}: {seen:,} read, {changed:,} updated")
