"""The OpenAPI schema is valid, and the live API keeps to it: Schemathesis sends every
operation generated requests (valid ones and malformed ones) as a sales rep with a read and
write token, through the WSGI app; no answer is a 5xx, and every answer matches the schema
(status code, content type, headers, body)."""

import os
import time

import pytest
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crm.wsgi import application
from tests.api.conftest import token_for
from tests.factories import AccountFactory, ContactFactory, TaskFactory
from tests.factories.leads import LeadFactory
from tests.factories.sales import OpportunityFactory
from tests.factories.support import TicketFactory

pytestmark = pytest.mark.django_db

#: Examples per operation and mode: bounded so the whole run takes about a minute.
EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "8"))


def test_the_schema_validates_without_warnings(tmp_path):
    call_command(
        "spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yml")
    )


def test_the_schema_and_docs_are_served(api, rep_client):
    schema = api.get("/api/v1/schema/", {"format": "json"})
    assert schema.status_code == 200 and schema.json()["openapi"].startswith("3.")
    assert "/api/v1/leads/{id}/convert/" in schema.json()["paths"]
    page = rep_client.get("/api/v1/docs/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "swagger-ui-bundle.js" in html and "crm/api_docs.js" in html
    assert "<script>" not in html and "style=" not in html  # nothing inline (CSP)
    policy = page["Content-Security-Policy"]
    assert "script-src 'self' 'nonce-" in policy and "unsafe-inline" not in policy


def _describe(exc) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return " | ".join(_describe(e) for e in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


@pytest.fixture
def wsgi_in_test_transaction():
    """The WSGI app runs in the test's thread and transaction: like Django's test client, keep
    its request signals from closing the test's connection."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield application
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def records(rep, agent):
    account = AccountFactory(owner=rep)
    contact = ContactFactory(owner=rep, account=account)
    return [
        account,
        contact,
        LeadFactory(owner=rep),
        OpportunityFactory(owner=rep, account=account),
        TicketFactory(contact=contact),
        TaskFactory(assignee=rep),
    ]


def test_schemathesis_finds_no_5xx_and_no_answer_off_the_schema(
    rep, records, wsgi_in_test_transaction
):
    import schemathesis
    from django.test import override_settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.generation.modes import GenerationMode
    from schemathesis.specs.openapi.checks import (
        content_type_conformance,
        response_headers_conformance,
        response_schema_conformance,
        status_code_conformance,
    )

    headers = {"Authorization": f"Bearer {token_for(rep)}"}
    with override_settings(API_THROTTLE_RATE="100000/min"):
        schema = schemathesis.openapi.from_wsgi(
            "/api/v1/schema/?format=json", application, headers=headers
        )
        checks = [
            not_a_server_error,
            status_code_conformance,
            content_type_conformance,
            response_headers_conformance,
            response_schema_conformance,
        ]
        failures, sent, started = [], 0, time.monotonic()
        for result in schema.get_all_operations():
            operation = result.ok()
            strategy = st.one_of(
                operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                operation.as_strategy(generation_mode=GenerationMode.NEGATIVE),
            )

            @settings(
                max_examples=EXAMPLES * 2,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=strategy)
            def run(case):
                nonlocal sent
                sent += 1
                with transaction.atomic():  # a request's database error stays its own
                    response = case.call(headers=headers)
                    try:
                        case.validate_response(response, checks=checks)
                    except (Exception, BaseExceptionGroup) as exc:  # collected, reported below
                        failures.append(
                            f"{case.method} {case.formatted_path}: {_describe(exc)}"[:1500]
                        )

            run()
    elapsed = time.monotonic() - started
    print(f"schemathesis: {sent} requests in {elapsed:.0f} s")
    distinct = {}
    for failure in failures:
        distinct.setdefault(failure.split("\n")[0], failure)
    assert not failures, f"{len(failures)} failures:\n\n" + "\n\n".join(
        list(distinct.values())[:12]
    )
