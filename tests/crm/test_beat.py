"""Beat keeps its schedule through a database outage.

django-celery-beat's scheduler rereads every schedule from the database every five minutes; a
database that does not answer at that moment made beat exit (and with it every automation, and
``make run``'s whole stack). The CRM's scheduler (``crm.beat``) keeps the schedule it has."""

import contextlib
from datetime import timedelta

import pytest
from django.db import connection

from crm.beat import DatabaseScheduler
from crm.celery import app as celery_app

# Transactional: the test points the connection at a server that is not there.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@contextlib.contextmanager
def database_unreachable():
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict["HOST"] = "/nonexistent-crm-socket-folder"
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


def test_the_full_reread_while_the_database_is_down_keeps_the_schedule():
    scheduler = DatabaseScheduler(app=celery_app, lazy=False)
    before = set(scheduler.schedule)
    assert "work-sweep" in before

    # The five-minute full reread falls due while the database does not answer
    scheduler._last_full_sync -= timedelta(minutes=10)
    with database_unreachable():
        during = set(scheduler.schedule)
        scheduler.tick()

    assert during == before
    # and once it answers, the next read works as before
    scheduler._last_full_sync -= timedelta(minutes=10)
    assert set(scheduler.schedule) == before
