"""Two people editing one record: the later save does not silently overwrite the earlier one.

The edit form carries the version the user opened; a save over a newer version that would change
a value someone else set comes back with who changed what (both values) and saves nothing; a
second Save keeps the user's values on purpose; sending the stored values again (a double
submit) saves nothing and succeeds."""

import re

import pytest
from django.test import Client
from django.urls import reverse

from crm.models import Account, Activity
from tests.factories.crm import AccountFactory

pytestmark = [pytest.mark.django_db, pytest.mark.pgbouncer]


def opened(client, url) -> dict:
    """The edit form as the browser would post it back: its fields and hidden version."""
    html = client.get(url).content.decode()
    version = re.search(r'name="_version" value="([^"]+)"', html).group(1)
    return {"_version": version}


def values(account, **changes) -> dict:
    data = {
        "name": account.name,
        "domain": account.domain,
        "industry": account.industry,
        "size_band": account.size_band,
        "country": account.country,
        "owner": account.owner_id,
        "lifecycle_stage": account.lifecycle_stage,
    }
    data.update(changes)
    return {k: ("" if v is None else v) for k, v in data.items()}


def test_the_later_save_sees_the_earlier_and_overwrites_nothing(rep_client, manager, rep):
    account = AccountFactory(owner=rep, name="Nordwind GmbH", industry="software")
    url = reverse("account_edit", args=[account.pk])
    rep_form = opened(rep_client, url)

    # Given the manager saved a new name after the rep opened the form
    manager_client = Client()
    manager_client.force_login(manager)
    manager_form = opened(manager_client, url)
    response = manager_client.post(url, {**values(account, name="Nordwind AG"), **manager_form})
    assert response.status_code == 302

    # When the rep saves their form (the old name, a new industry)
    response = rep_client.post(url, {**values(account, industry="logistics"), **rep_form})

    # Then nothing is saved and the page says who changed what, with both values
    assert response.status_code == 200
    page = response.content.decode()
    assert f"changed by {manager}" in page
    assert "yours “Nordwind GmbH”, now “Nordwind AG”" in page
    account.refresh_from_db()
    assert (account.name, account.industry) == ("Nordwind AG", "software")

    # And a second Save, with the version the page now carries, keeps the rep's values
    version = re.search(r'name="_version" value="([^"]+)"', page).group(1)
    response = rep_client.post(
        url, {**values(account, name="Nordwind GmbH", industry="logistics"), "_version": version}
    )
    assert response.status_code == 302
    account.refresh_from_db()
    assert (account.name, account.industry) == ("Nordwind GmbH", "logistics")


def test_a_double_submit_saves_once_and_both_answers_succeed(rep_client, rep):
    account = AccountFactory(owner=rep, name="Twice Ltd", industry="software")
    url = reverse("account_edit", args=[account.pk])
    form = {**values(account, industry="retail"), **opened(rep_client, url)}

    first = rep_client.post(url, form)
    second = rep_client.post(url, form)

    assert (first.status_code, second.status_code) == (302, 302)
    account.refresh_from_db()
    assert account.industry == "retail"
    assert Activity.objects.for_object(account).filter(summary__startswith="Changed").count() == 1


def test_a_save_without_a_concurrent_change_saves(rep_client, rep):
    account = AccountFactory(owner=rep, name="Calm Co")
    url = reverse("account_edit", args=[account.pk])
    response = rep_client.post(
        url, {**values(account, name="Calm Company"), **opened(rep_client, url)}
    )
    assert response.status_code == 302
    assert Account.objects.get(pk=account.pk).name == "Calm Company"
