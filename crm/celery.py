"""The Celery application: configured from Django settings (``CELERY_*``), tasks found per app."""

import os

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.base")
# The filesystem broker writes each message atomically (crm/broker.py).
TRANSPORT_ALIASES["filesystem"] = "crm.broker:Transport"

app = Celery("crm")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
