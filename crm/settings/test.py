"""Test settings: the base settings with fast hashing and in-memory email."""

from .base import *  # noqa: F403
from .base import DATABASES

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = False
# Tests that commit and queue work publish to memory, not to the development broker folder.
CELERY_BROKER_URL = "memory://"
# Test data is thrown away: commits need not wait for the disk (a session setting, so the
# server's other databases keep their durability).
# (Not through a transaction-mode pooler, which takes no startup options.)
if "options" in DATABASES["default"]["OPTIONS"]:
    DATABASES["default"]["OPTIONS"]["options"] += " -c synchronous_commit=off"
# The mailbox tests talk to a mail server on 127.0.0.1 (tests/mailserver.py).
MAIL_ALLOW_PRIVATE_HOSTS = True
# Every run of a compiled query is compared with its queryset built afresh (crm.compiled).
COMPILED_QUERIES_CHECK = True
