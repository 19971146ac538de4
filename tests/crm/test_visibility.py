import pytest
from django.urls import reverse

from crm.models import Account, Activity, Contact
from tests.factories import AccountFactory, ContactFactory, TaskFactory, UserFactory
from tests.visibility import assert_hidden

pytestmark = pytest.mark.django_db


def account_data(**overrides):
    data = {"name": "Hijacked", "lifecycle_stage": "prospect", "domain": "", "country": ""}
    data.update(overrides)
    return data


def test_rep_cannot_change_another_reps_account_or_contact(rep_client, rep2):
    # Given records owned by rep2
    account = AccountFactory(owner=rep2, name="Rep2 Corp")
    contact = ContactFactory(owner=rep2, account=account, last_name="Private")
    # When rep guesses the change URLs, then every one answers 404 and nothing changes
    assert_hidden(
        rep_client,
        get=[
            reverse("account_edit", args=[account.pk]),
            reverse("account_delete", args=[account.pk]),
            reverse("contact_edit", args=[contact.pk]),
            reverse("contact_delete", args=[contact.pk]),
        ],
        post=[
            (reverse("account_edit", args=[account.pk]), account_data()),
            (reverse("account_delete", args=[account.pk]), {}),
            (reverse("contact_edit", args=[contact.pk]), {"last_name": "Hijacked"}),
            (reverse("contact_delete", args=[contact.pk]), {}),
        ],
    )
    account.refresh_from_db()
    contact.refresh_from_db()
    assert account.name == "Rep2 Corp"
    assert contact.last_name == "Private"


def test_rep_reads_every_account_but_sees_no_edit_button_on_others(rep_client, rep2):
    account = AccountFactory(owner=rep2)
    response = rep_client.get(account.get_absolute_url())
    assert response.status_code == 200
    assert reverse("account_edit", args=[account.pk]) not in response.content.decode()


def test_rep_cannot_touch_another_reps_task(rep_client, rep2):
    task = TaskFactory(assignee=rep2, created_by=rep2)
    assert_hidden(
        rep_client,
        get=[reverse("task_edit", args=[task.pk])],
        post=[
            (reverse("task_toggle", args=[task.pk]), {}),
            (reverse("task_edit", args=[task.pk]), {"title": "x", "due_at": "2030-01-01T10:00"}),
        ],
    )
    task.refresh_from_db()
    assert task.done_at is None


def test_user_without_role_sees_nothing(client):
    nobody = UserFactory(username="nobody")
    account = AccountFactory()
    client.force_login(nobody)
    assert_hidden(
        client,
        get=[account.get_absolute_url(), reverse("account_edit", args=[account.pk])],
        post=[
            (
                reverse("activity_create", args=["crm.account", account.pk]),
                {"activity-kind": "call", "activity-summary": "x"},
            )
        ],
    )
    assert "No accounts yet" in client.get(reverse("account_list")).content.decode()
    assert Activity.objects.for_object(account).filter(summary="x").count() == 0


def test_unknown_timeline_model_is_404(rep_client):
    assert_hidden(
        rep_client,
        post=[(reverse("activity_create", args=["auth.user", 1]), {"activity-summary": "x"})],
    )


def test_agent_reads_accounts_but_cannot_create_or_change(agent_client, rep):
    account = AccountFactory(owner=rep)
    assert agent_client.get(account.get_absolute_url()).status_code == 200
    assert_hidden(
        agent_client,
        get=[reverse("account_create"), reverse("contact_create")],
        post=[
            (reverse("account_create"), account_data(name="Agent Corp")),
            (reverse("account_edit", args=[account.pk]), account_data()),
        ],
    )
    assert not Account.objects.filter(name="Agent Corp").exists()


def test_manager_changes_team_records_but_not_other_teams(manager_client, rep):
    mine = AccountFactory(owner=rep)
    outsider = AccountFactory(owner=UserFactory(username="elsewhere"))
    response = manager_client.post(
        reverse("account_edit", args=[mine.pk]), account_data(name="Renamed", owner=rep.pk)
    )
    assert response.status_code == 302
    mine.refresh_from_db()
    assert mine.name == "Renamed"
    assert_hidden(
        manager_client, post=[(reverse("account_edit", args=[outsider.pk]), account_data())]
    )


def test_owner_choices_follow_role(rep_client, rep, rep2):
    # A rep cannot hand a new account to someone else by posting their id.
    response = rep_client.post(reverse("account_create"), account_data(name="Mine", owner=rep2.pk))
    assert response.status_code == 200
    assert "owner" in response.context["form"].errors
    assert not Account.objects.filter(name="Mine").exists()


def test_contact_account_picker_is_scoped_to_visible_accounts(client, rep):
    nobody = UserFactory(username="nobody")
    client.force_login(nobody)
    AccountFactory(name="Secret Corp")
    assert client.get(reverse("account_autocomplete") + "?q=secret").json() == {"results": []}
    assert Contact.objects.visible_to(nobody).count() == 0
