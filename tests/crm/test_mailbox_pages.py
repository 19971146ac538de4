"""Connecting a mailbox in the browser: the settings page, its connection test, and who may
reach it. Against the test run's dovecot and SMTP server."""

import pytest
from django.db import connection
from django.urls import reverse

from crm.choices import MailSecurity, MailSyncStatus
from crm.models import Mailbox, MailboxFolder
from tests.crm.mailbox_kit import connected_mailbox
from tests.mailserver import HOST, SENT_FOLDER, free_port


@pytest.fixture
def mail_user(mailserver):
    return mailserver.add_user()


def form_data(mailserver, mail_user, **overrides):
    data = {
        "email_address": mail_user,
        "imap_host": HOST,
        "imap_port": mailserver.imap_port,
        "imap_security": MailSecurity.NONE,
        "imap_username": mail_user,
        "imap_password": mailserver.passwords[mail_user],
        "smtp_host": HOST,
        "smtp_port": mailserver.smtp_port,
        "smtp_security": MailSecurity.NONE,
        "smtp_username": "",
        "smtp_password": "",
        "folders": "",
        "private_label": "Private",
        "action": "save",
    }
    data.update(overrides)
    return data


def test_a_seller_tests_then_connects_their_mailbox(client, rep, mailserver, mail_user):
    client.force_login(rep)
    assert client.get(reverse("mailbox_settings")).status_code == 200

    tested = client.post(
        reverse("mailbox_settings"), form_data(mailserver, mail_user, action="test")
    )

    assert tested.status_code == 200
    page = tested.content.decode()
    assert "Connection works" in page
    assert f"sent mail is in “{SENT_FOLDER}”" in page
    assert "SMTP:</strong> Signed in" in page
    assert not Mailbox.objects.exists()  # testing saves nothing
    assert mailserver.passwords[mail_user] not in page  # the typed password is not echoed

    saved = client.post(reverse("mailbox_settings"), form_data(mailserver, mail_user))

    assert saved.status_code == 302
    mailbox = Mailbox.objects.get(user=rep)
    assert mailbox.imap_password == mailserver.passwords[mail_user]
    assert mailbox.sync_status == MailSyncStatus.WAITING
    page = client.get(reverse("mailbox_settings")).content.decode()
    assert mail_user in page and "Up to date" in page
    assert mailserver.passwords[mail_user] not in page


def test_passwords_are_stored_encrypted(client, rep, mailserver, mail_user):
    client.force_login(rep)
    client.post(
        reverse("mailbox_settings"), form_data(mailserver, mail_user, smtp_password="s3cret-smtp")
    )

    with connection.cursor() as cursor:
        cursor.execute("SELECT imap_password, smtp_password FROM crm_mailbox")
        imap_stored, smtp_stored = cursor.fetchone()
    assert mailserver.passwords[mail_user] not in imap_stored
    assert "s3cret-smtp" not in smtp_stored
    assert Mailbox.objects.get().smtp_password == "s3cret-smtp"


def test_a_wrong_password_says_so_clearly(client, rep, mailserver, mail_user):
    client.force_login(rep)

    response = client.post(
        reverse("mailbox_settings"),
        form_data(mailserver, mail_user, imap_password="nope", action="test"),
    )

    assert response.status_code == 200
    page = response.content.decode()
    assert "Connection failed" in page
    assert "The IMAP server refused the sign-in" in page
    assert "The SMTP server refused the sign-in" in page


def test_an_unreachable_server_says_so_without_an_error_page(client, rep, mailserver, mail_user):
    client.force_login(rep)
    closed = free_port()

    response = client.post(
        reverse("mailbox_settings"),
        form_data(mailserver, mail_user, imap_port=closed, smtp_port=closed, action="test"),
    )

    assert response.status_code == 200
    assert "the connection was refused" in response.content.decode()


def test_a_server_on_the_crms_own_network_is_refused(client, rep, mailserver, mail_user, settings):
    settings.MAIL_ALLOW_PRIVATE_HOSTS = False
    client.force_login(rep)

    response = client.post(reverse("mailbox_settings"), form_data(mailserver, mail_user))

    assert response.status_code == 400
    assert "address on the server&#x27;s own network" in response.content.decode()
    assert not Mailbox.objects.exists()


def test_a_blank_password_keeps_the_stored_one_and_a_fix_resumes_the_sync(
    client, rep, mailserver, mail_user
):
    mailbox = connected_mailbox(rep, mailserver, mail_user, imap_password="stored-pw-123")
    Mailbox.objects.filter(pk=mailbox.pk).update(
        sync_status=MailSyncStatus.ATTENTION, sync_error="The IMAP server refused the sign-in."
    )
    client.force_login(rep)
    page = client.get(reverse("mailbox_settings")).content.decode()
    assert "Needs attention" in page and "refused the sign-in" in page
    assert "stored-pw-123" not in page
    assert "Stored (empty keeps it)" in page

    client.post(
        reverse("mailbox_settings"),
        form_data(mailserver, mail_user, imap_password="", folders="INBOX\nArchive"),
    )

    mailbox.refresh_from_db()
    assert mailbox.imap_password == "stored-pw-123"
    assert mailbox.sync_status == MailSyncStatus.WAITING and mailbox.sync_error == ""
    assert list(mailbox.folders.values_list("name", flat=True)) == ["INBOX", "Archive"]
    client.post(
        reverse("mailbox_settings"),
        form_data(mailserver, mail_user, imap_password="new", folders="Archive"),
    )
    mailbox.refresh_from_db()
    assert mailbox.imap_password == "new"
    assert list(mailbox.folders.values_list("name", flat=True)) == ["Archive"]


def test_disconnect_deletes_the_stored_secrets(client, rep, mailserver, mail_user):
    mailbox = connected_mailbox(rep, mailserver, mail_user)
    MailboxFolder.objects.create(mailbox=mailbox, name="INBOX")
    client.force_login(rep)

    response = client.post(reverse("mailbox_disconnect"))

    assert response.status_code == 302
    assert not Mailbox.objects.exists() and not MailboxFolder.objects.exists()


def test_another_user_never_reaches_someone_elses_mailbox(client, rep, rep2, mailserver, mail_user):
    mailbox = connected_mailbox(rep, mailserver, mail_user)
    client.force_login(rep2)

    page = client.get(reverse("mailbox_settings")).content.decode()

    assert mail_user not in page
    assert client.post(reverse("mailbox_disconnect")).status_code == 404
    assert client.post(reverse("mailbox_sync_now")).status_code == 404
    assert Mailbox.objects.filter(pk=mailbox.pk).exists()


def test_an_admin_sees_the_status_but_no_secret(client, admin, rep, mailserver, mail_user):
    mailbox = connected_mailbox(rep, mailserver, mail_user, smtp_password="smtp-secret")
    client.force_login(admin)

    page = client.get(reverse("admin:crm_mailbox_change", args=[mailbox.pk])).content.decode()

    assert mail_user in page and "Up to date" in page
    assert mailserver.passwords[mail_user] not in page and "smtp-secret" not in page


def test_sync_now_wakes_a_mailbox_waiting_out_a_retry(client, rep, mailserver, mail_user):
    from django.utils import timezone

    mailbox = connected_mailbox(rep, mailserver, mail_user, next_sync_at=timezone.now())
    client.force_login(rep)

    assert client.post(reverse("mailbox_sync_now")).status_code == 302

    mailbox.refresh_from_db()
    assert mailbox.next_sync_at is None


def test_the_user_menu_links_the_mailbox_page(client, rep):
    client.force_login(rep)

    assert reverse("mailbox_settings") in client.get(reverse("home")).content.decode()


@pytest.mark.parametrize("security", [MailSecurity.SSL, MailSecurity.STARTTLS])
def test_tls_with_an_in_house_certificate_is_trusted_once_configured(
    rep, mailserver, mail_user, settings, security
):
    from crm.services.mailboxes import mailbox_test

    port = mailserver.imaps_port if security == MailSecurity.SSL else mailserver.imap_port
    mailbox = connected_mailbox(
        rep, mailserver, mail_user, imap_security=security, imap_port=port, smtp_host=""
    )

    untrusted = mailbox_test(mailbox=mailbox).steps[0]
    settings.MAIL_TLS_CA_FILE = mailserver.ca_file
    trusted = mailbox_test(mailbox=mailbox).steps[0]

    assert not untrusted.ok and "certificate is not trusted" in untrusted.message
    assert trusted.ok, trusted.message
