import csv
import io

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


def make_records(kind: str, owner, count: int = 3) -> list:
    """``count`` records of ``kind`` owned (where it has owners) by ``owner``."""
    if kind == "accounts":
        return [AccountFactory(owner=owner) for _ in range(count)]
    if kind == "contacts":
        return [ContactFactory(owner=owner) for _ in range(count)]
    if kind == "leads":
        return [LeadFactory(owner=owner) for _ in range(count)]
    if kind == "opportunities":
        return [OpportunityFactory(owner=owner) for _ in range(count)]
    if kind == "products":
        return [ProductFactory() for _ in range(count)]
    if kind == "tickets":
        return [TicketFactory(account=AccountFactory(owner=owner)) for _ in range(count)]
    if kind == "subscriptions":
        return [SubscriptionFactory(owner=owner) for _ in range(count)]
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
