"""A form sent several times at the same moment with one key (a double click on a slow page):
one send does the work, the others wait for it and get its page. Real connections, so the
(user, key) unique index orders them."""

import pytest
from django.test import Client

from crm.models import SubmittedForm
from crm.views.submissions import SUBMISSION_FIELD
from tests.concurrency import post_together
from tests.crm.submission_cases import CASES, form_key

# serialized_rollback: the pipelines and roles the data migrations made are there for each test.
pytestmark = [
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.pgbouncer,
]
CLICKS = 4


@pytest.mark.parametrize(
    "name",
    [
        "lead convert",
        "deal won",
        "quote",
        "task (HTMX)",
        "account",
        "email campaign send",
        "NPS run",
        "lead import upload",
        "ticket",
    ],
)
def test_sends_at_the_same_moment_make_one_result_and_one_page(request, name):
    action = CASES[name](request)
    client = Client()
    client.force_login(action.user)
    key = form_key(client, action)
    before = action.count()

    responses = post_together(
        action.user,
        action.url,
        lambda: {**action.data(), SUBMISSION_FIELD: key},
        clicks=CLICKS,
        headers=action.headers,
    )

    assert action.count() == before + 1
    statuses = sorted(r.status_code for r in responses)
    if action.htmx:
        assert statuses == [200] + [204] * (CLICKS - 1)
    else:
        assert statuses == [302] * CLICKS
        assert len({r["Location"] for r in responses}) == 1
    assert SubmittedForm.objects.filter(user=action.user, key=key).count() == 1
