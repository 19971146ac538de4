"""A database that does not answer makes pages say so, 503 with Retry-After, never a 500; pages
work again as soon as it answers."""

import contextlib

import pytest
from django.db import connection
from django.test import Client

from crm.views.errors import RETRY_AFTER_SECONDS

# Transactional: the test closes and redirects the connection, which a test transaction holds;
# serialized_rollback, as every transactional test here, so the data migrations' rows survive.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


@contextlib.contextmanager
def database_unreachable():
    """The default connection pointed at a socket folder with no server in it."""
    saved = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict["HOST"] = "/nonexistent-crm-socket-folder"
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict.clear()
        connection.settings_dict.update(saved)


@pytest.mark.parametrize("path", ["/accounts/", "/leads/", "/tickets/", "/"])
def test_pages_answer_503_with_retry_after_while_the_database_is_unreachable(rep, path):
    client = Client(raise_request_exception=False)
    client.force_login(rep)

    with database_unreachable():
        response = client.get(path)

    assert response.status_code == 503
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert "Back in a moment" in response.content.decode()
    assert client.get(path).status_code == 200


def test_a_post_while_the_database_is_unreachable_is_503_too(rep):
    client = Client(raise_request_exception=False)
    client.force_login(rep)

    with database_unreachable():
        response = client.post("/accounts/new/", {"name": "Lost while down"})

    assert response.status_code == 503
