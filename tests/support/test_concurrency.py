"""Round robin stays fair when tickets arrive at the same moment (PostgreSQL row locks)."""

import threading
from collections import Counter

import pytest
from django.db import connection

from support.models import Ticket
from support.services import tickets as svc
from tests.factories.crm import ContactFactory

pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.pgbouncer,
]
THREADS = 8


def test_round_robin_is_fair_under_concurrent_creation(policies, queue, agent, agent2):
    contacts = [ContactFactory() for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS)
    errors = []

    def open_ticket(contact):
        try:
            barrier.wait(timeout=30)
            svc.ticket_create(subject="Same moment", contact=contact)
        except Exception as exc:  # reported below; a thread cannot fail the test itself
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=open_ticket, args=(c,)) for c in contacts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not errors
    counts = Counter(Ticket.objects.values_list("assignee_id", flat=True))
    assert counts == {agent.pk: THREADS // 2, agent2.pk: THREADS // 2}
