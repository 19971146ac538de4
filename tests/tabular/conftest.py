import csv
import io
import itertools

import openpyxl
import pytest
from django.urls import reverse

from tests.factories.crm import AccountFactory, ContactFactory
from tests.factories.leads import LeadFactory
from tests.factories.retention import SubscriptionFactory
from tests.factories.sales import OpportunityFactory, ProductFactory
from tests.factories.support import TicketFactory

LIST_URLS = {
    "accounts": "account_list",
    "contacts": "contact_list",
    "leads": "leads:lead_list",
    "opportunities": "sales:opportunity_list",
    "products": "sales:product_list",
    "tickets": "support:ticket_list",
    "subscriptions": "retention:subscription_list",
}


_names = itertools.count(1)


def account(owner, **kwargs):
    """An account with a name no other test account has (accounts are matched by name)."""
    return AccountFactory(owner=owner, name=f"Account {next(_names)}", **kwargs)


def make_records(kind: str, owner, count: int = 3) -> list:
    """``count`` records of ``kind`` owned (where it has owners) by ``owner``."""
    if kind == "accounts":
        return [account(owner) for _ in range(count)]
    if kind == "contacts":
        return [ContactFactory(owner=owner, account=account(owner)) for _ in range(count)]
    if kind == "leads":
        return [LeadFactory(owner=owner) for _ in range(count)]
    if kind == "opportunities":
        return [OpportunityFactory(owner=owner, account=account(owner)) for _ in range(count)]
    if kind == "products":
        return [ProductFactory() for _ in range(count)]
    if kind == "tickets":
        return [
            TicketFactory(contact=ContactFactory(owner=owner, account=account(owner)))
            for _ in range(count)
        ]
    if kind == "subscriptions":
        return [SubscriptionFactory(owner=owner, account=account(owner)) for _ in range(count)]
    raise AssertionError(kind)


def export(client, kind: str, fmt: str = "csv", **query):
    url = reverse(LIST_URLS[kind])
    return client.get(url, {**query, "export": fmt})


def csv_table(response) -> list[list[str]]:
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def xlsx_table(response) -> list[list]:
    data = b"".join(response.streaming_content)
    book = openpyxl.load_workbook(io.BytesIO(data))
    return [list(row) for row in book.worksheets[0].iter_rows(values_only=True)]


@pytest.fixture
def kinds():
    return list(LIST_URLS)


def import_file(user, kind: str, content: bytes, *, name="records.csv", mode="both", run=True):
    """Upload ``content`` as an import of ``kind`` by ``user`` with the guessed mapping, and
    (with ``run``) run it to the end as the worker would."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    from crm import registry
    from crm.tabular import imports

    upload = SimpleUploadedFile(name, content)
    job = imports.tabular_import_create(
        user=user, kind=registry.tabular.get(kind), upload=upload, mode=mode
    )
    if run:
        job = imports.tabular_import_run(job_id=job.pk)
    return job


def csv_bytes(table: list[list]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(table)
    return out.getvalue().encode("utf-8")


def xlsx_bytes(table: list[list]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    for row in table:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
