"""The Celery application: configured from Django settings (``CELERY_*``), tasks found per app."""

import os

from celery import Celery
from celery.signals import setup_logging
from kombu.transport import TRANSPORT_ALIASES

from crm import metrics, requestid, workers

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.base")
# The filesystem broker writes each message atomically (crm/broker.py).
TRANSPORT_ALIASES["filesystem"] = "crm.broker:Transport"

app = Celery("crm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Operations (crm.workers): the heartbeat file, graceful stop; the request id travels with
# tasks (crm.requestid); failures are counted for /metrics (crm.metrics).
workers.install(app)
requestid.install_celery_hooks()
metrics.install_celery_hooks()

if os.environ.get("LOG_FORMAT", "text").lower() == "json":

    @setup_logging.connect(weak=False)
    def _django_logging(**kwargs):
        """JSON lines in the worker and beat too: Django's ``LOGGING`` instead of Celery's."""
        import logging.config

        from django.conf import settings

        logging.config.dictConfig(settings.LOGGING)
