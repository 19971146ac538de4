"""Sending one request from several browsers at the same moment (a double click, a retry racing
the first send), through real database connections: for transactional tests."""

import threading

from django.db import connection
from django.test import Client


def post_together(user, url: str, data, *, clicks: int = 4, headers=None) -> list:
    """POST to ``url`` from ``clicks`` clients signed in as ``user``, released at once; their
    responses (a thread's exception is re-raised here). ``data`` is a dict, or a function
    making one for each client (files can be read only once)."""
    barrier = threading.Barrier(clicks)
    responses, errors = [], []

    def click():
        client = Client()
        client.force_login(user)
        body = data() if callable(data) else data
        try:
            barrier.wait(timeout=30)
            responses.append(client.post(url, body, headers=headers or {}))
        except Exception as exc:  # reported below; a thread cannot fail the test itself
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=click) for _ in range(clicks)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    return responses
