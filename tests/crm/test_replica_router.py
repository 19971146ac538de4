"""The read replica router's decisions (crm.replica). The real thing, a streaming replica with
replay paused, is proved by ``bin/replica-check`` (``manage.py replica_check``)."""

import pytest
from django.db import transaction
from django.http import HttpResponse
from django.test import RequestFactory

from crm import replica
from crm.models import Account
from crm.replica import COOKIE, ReadYourWritesMiddleware, ReplicaRouter, lagging_reads


@pytest.fixture
def with_replica(monkeypatch):
    monkeypatch.setattr(replica, "replica_configured", lambda: True)


def test_without_a_replica_everything_reads_the_primary(db):
    router = ReplicaRouter()
    with lagging_reads():
        assert router.db_for_read(Account) == "default"
    assert replica.read_alias() == "default"


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_lagging_reads_go_to_the_replica_and_nothing_else(with_replica):
    router = ReplicaRouter()
    assert router.db_for_read(Account) == "default"
    with lagging_reads():
        assert router.db_for_read(Account) == "replica"
        assert router.db_for_write(Account) == "default"
        with transaction.atomic():  # a transaction's own writes are on the primary only
            assert router.db_for_read(Account) == "default"
    assert router.db_for_read(Account) == "default"
    assert router.allow_migrate("replica", "crm") is False
    assert router.allow_migrate("default", "crm") is True


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_browser_that_wrote_reads_the_primary_for_a_while(with_replica, settings):
    settings.REPLICA_READ_YOUR_WRITES_SECONDS = 7
    router = ReplicaRouter()
    seen = {}

    def writes(request):
        router.db_for_write(Account)
        return HttpResponse()

    def reads(request):
        with lagging_reads():
            seen["alias"] = router.db_for_read(Account)
        return HttpResponse()

    factory = RequestFactory()
    response = ReadYourWritesMiddleware(writes)(factory.post("/"))
    assert response.cookies[COOKIE]["max-age"] == 7
    assert response.cookies[COOKIE]["httponly"]

    request = factory.get("/")
    request.COOKIES[COOKIE] = "1"
    response = ReadYourWritesMiddleware(reads)(request)
    assert seen["alias"] == "default"
    assert COOKIE not in response.cookies  # reading does not extend the window

    ReadYourWritesMiddleware(reads)(factory.get("/"))
    assert seen["alias"] == "replica"
