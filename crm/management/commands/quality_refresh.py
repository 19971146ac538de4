"""Rescore the data quality of every lead, contact and account.

The services score records as they change and the daily job rescores those whose freshness
band moved; run this after loading rows around the services (a restore from another system) or
after changing the weights in ``crm.quality``.
"""

from django.core.management.base import BaseCommand

from crm.services.quality import quality_refresh_all


class Command(BaseCommand):
    help = "Rescore the data quality of every lead, contact and account."

    def handle(self, *args, **options):
        for model, seen, changed in quality_refresh_all():
            name = model._meta.verbose_name_plural
            self.stdout.write(f"{name}: {seen:,} read, {changed:,} rescored")
