"""Mailboxes connected to the test run's dovecot (``tests/mailserver.py``)."""

from crm.choices import MailSecurity
from crm.models import Mailbox
from tests.mailserver import HOST


def connected_mailbox(user, mailserver, mail_user: str, **fields) -> Mailbox:
    """``user``'s mailbox, signed in as ``mail_user`` on the local IMAP and SMTP servers."""
    values = {
        "email_address": mail_user,
        "imap_host": HOST,
        "imap_port": mailserver.imap_port,
        "imap_security": MailSecurity.NONE,
        "imap_username": mail_user,
        "imap_password": mailserver.passwords[mail_user],
        "smtp_host": HOST,
        "smtp_port": mailserver.smtp_port,
        "smtp_security": MailSecurity.NONE,
        "smtp_username": mail_user,
        "smtp_password": mailserver.passwords[mail_user],
        **fields,
    }
    return Mailbox.objects.create(user=user, **values)
