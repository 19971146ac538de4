"""Action forms carried out once: the page gives each form a key; the same form sent again
(a double click, the browser sending it anew, a retry) makes nothing more and is answered with
the first answer's page; forms without a key work as before; keys are per user."""

import datetime as dt

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from crm.models import Account, SubmittedForm, Task
from crm.services.submissions import SUBMISSION_KEEP
from crm.views.submissions import ALREADY_DONE, SUBMISSION_FIELD
from retention.models import UsageEvent
from sales import services as sales_services
from tests.crm.submission_cases import CASES, form_key, messages_of
from tests.factories.crm import AccountFactory

pytestmark = pytest.mark.django_db


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize("name", list(CASES))
def test_an_action_form_sent_twice_is_carried_out_once(request, name):
    action = CASES[name](request)
    client = signed_in(action.user)
    key = form_key(client, action)
    before = action.count()

    first = client.post(
        action.url, {**action.data(), SUBMISSION_FIELD: key}, headers=action.headers
    )
    done = action.count()
    second = client.post(
        action.url, {**action.data(), SUBMISSION_FIELD: key}, headers=action.headers
    )

    assert done > before, first.content.decode()[:2000]
    assert action.count() == done
    if action.htmx:
        assert first.status_code == 200
        assert second.status_code == 204  # nothing to swap: the first answer is on the page
    else:
        assert first.status_code == 302, first.content.decode()[:2000]
        assert second.status_code == 302
        assert second["Location"] == first["Location"]
        assert ALREADY_DONE in messages_of(second)


@pytest.mark.parametrize(
    "name", ["quote", "task", "account", "NPS run", "lead import upload", "ticket"]
)
def test_without_a_key_each_send_is_carried_out_as_before(request, name):
    action = CASES[name](request)
    client = signed_in(action.user)
    before = action.count()

    for _ in range(2):
        response = client.post(action.url, action.data(), headers=action.headers)
        assert response.status_code == 302

    assert action.count() == before + 2
    assert not SubmittedForm.objects.exists()


def test_each_showing_of_a_form_has_its_own_key(request):
    action = CASES["quote"](request)
    client = signed_in(action.user)

    assert form_key(client, action) != form_key(client, action)


def test_the_same_key_from_another_user_is_their_own(rep, rep2):
    url = reverse("account_create")
    for user, name in ((rep, "Rep's"), (rep2, "Rep2's")):
        response = signed_in(user).post(
            url, {"name": name, "lifecycle_stage": "prospect", SUBMISSION_FIELD: "same-key-123"}
        )
        assert response.status_code == 302

    assert set(Account.objects.values_list("name", flat=True)) == {"Rep's", "Rep2's"}


def test_a_form_that_came_back_with_its_errors_can_be_sent_again(rep):
    client = signed_in(rep)
    url = reverse("account_create")
    key = {SUBMISSION_FIELD: "corrected-form-1"}

    invalid = client.post(url, {"name": "", "lifecycle_stage": "prospect", **key})
    valid = client.post(url, {"name": "Fixed Ltd", "lifecycle_stage": "prospect", **key})

    assert invalid.status_code == 200 and invalid.context["form"].errors
    assert valid.status_code == 302
    assert Account.objects.filter(name="Fixed Ltd").count() == 1


def test_a_send_that_failed_leaves_nothing_and_its_retry_works(request, monkeypatch):
    action = CASES["quote"](request)
    client = signed_in(action.user)
    key = {SUBMISSION_FIELD: form_key(client, action)}
    quote_create = sales_services.quote_create

    def broken(**kwargs):
        quote_create(**kwargs)
        raise RuntimeError("the database went away half way")

    monkeypatch.setattr(sales_services, "quote_create", broken)
    with pytest.raises(RuntimeError):
        client.post(action.url, key)
    assert action.count() == 0 and not SubmittedForm.objects.exists()

    monkeypatch.setattr(sales_services, "quote_create", quote_create)
    retry = client.post(action.url, key)

    assert retry.status_code == 302 and action.count() == 1
    assert ALREADY_DONE not in messages_of(retry)


def test_a_malformed_key_is_no_key(rep):
    client = signed_in(rep)
    url = reverse("account_create")
    for key in ("<script>", "x" * 65, "short"):
        response = client.post(
            url, {"name": f"Odd {len(key)}", "lifecycle_stage": "prospect", SUBMISSION_FIELD: key}
        )
        assert response.status_code == 302
    assert Account.objects.filter(name__startswith="Odd").count() == 3
    assert not SubmittedForm.objects.exists()


def test_keys_older_than_a_week_are_forgotten_on_the_users_next_send(rep, rep2):
    now = timezone.now()
    old = now - SUBMISSION_KEEP - dt.timedelta(minutes=1)
    SubmittedForm.objects.create(user=rep, key="old-key-0001", path="/", created_at=old)
    SubmittedForm.objects.create(user=rep, key="recent-key-01", path="/", created_at=now)
    SubmittedForm.objects.create(user=rep2, key="other-old-01", path="/", created_at=old)

    signed_in(rep).post(
        reverse("account_create"),
        {"name": "Fresh", "lifecycle_stage": "prospect", SUBMISSION_FIELD: "fresh-key-001"},
    )

    assert set(SubmittedForm.objects.filter(user=rep).values_list("key", flat=True)) == {
        "recent-key-01",
        "fresh-key-001",
    }
    assert SubmittedForm.objects.filter(user=rep2).exists()  # another user's turn comes later


def test_the_same_key_on_an_edit_form_saves_once_and_says_so(rep):
    account = AccountFactory(owner=rep, name="Before")
    client = signed_in(rep)
    url = reverse("account_edit", args=[account.pk])
    page = client.get(url).content.decode()
    version = page.split('name="_version" value="')[1].split('"')[0]
    data = {"name": "After", "lifecycle_stage": account.lifecycle_stage, "_version": version}
    data[SUBMISSION_FIELD] = "edit-form-0001"

    first = client.post(url, data)
    second = client.post(url, data)

    assert first.status_code == second.status_code == 302
    assert second["Location"] == first["Location"] == account.get_absolute_url()
    assert ALREADY_DONE in messages_of(second)


def test_a_usage_file_sent_twice_is_imported_once(manager):
    account = AccountFactory()
    client = signed_in(manager)
    url = reverse("retention:usage_import")
    csv = f"account,kind,occurred_at\n{account.pk},login,2026-01-02\n".encode()
    key = {SUBMISSION_FIELD: "usage-file-001"}

    first = client.post(url, {"file": SimpleUploadedFile("usage.csv", csv), **key})
    second = client.post(url, {"file": SimpleUploadedFile("usage.csv", csv), **key})

    assert first.status_code == 200 and "1" in first.content.decode()
    assert second.status_code == 302 and second["Location"] == url
    assert UsageEvent.objects.filter(account=account).count() == 1


def test_a_duplicate_without_a_known_page_goes_back_where_it_came_from(rep):
    SubmittedForm.objects.create(user=rep, key="htmx-first-01", path="/x/", location="")
    client = signed_in(rep)
    account = AccountFactory(owner=rep)
    url = reverse("task_create", args=["crm.account", account.pk])
    data = {"task-title": "Again", "task-due_at": "2030-01-02T10:00"}
    data[SUBMISSION_FIELD] = "htmx-first-01"

    back = client.post(url, data, headers={"Referer": "http://testserver/accounts/"})
    elsewhere = client.post(url, data, headers={"Referer": "https://evil.example/"})

    assert back["Location"] == "http://testserver/accounts/"
    assert elsewhere["Location"] == "/"
    assert not Task.objects.filter(title="Again").exists()
