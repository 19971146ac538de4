"""The sync of a big mailbox: how long a first sync of 10,000 messages takes, and a second one
that finds nothing new.

Starts a local dovecot (``tests/mailserver.py``; Debian's ``dovecot-imapd``), fills one user's
mailbox with ``--messages`` messages (10,000) spread over the last 25 days: a share
(``--known``, 60 %) with ``--contacts`` known contacts (200), half received into INBOX and half
sent, in the sent folder; a third of those are replies in threads; the rest from strangers (read,
then skipped by the import). Then, on the database of the settings (``DATABASE_URL``), inside a
transaction that is rolled back at the end (the database is left as it was), makes the user, the
contacts and the mailbox, and times ``crm.mail.sync.mailbox_sync`` twice: the first sync (every
message read, the known ones stored) and a second one (nothing new). Prints the figures.

    python bench/mail_sync.py [--messages 10000] [--contacts 200] [--known 0.6] [--seed 7]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "crm.settings.base")
# The bench's IMAP server listens on 127.0.0.1.
os.environ["MAIL_ALLOW_PRIVATE_HOSTS"] = "true"


class Rollback(Exception):
    pass


def build_messages(args, mail_user: str, rng: random.Random):
    """(folder, raw, internal date) of every message, oldest first."""
    from django.utils import timezone

    from tests.mailserver import SENT_FOLDER, message_bytes

    now = timezone.now()
    known_ids: list[str] = []
    messages = []
    for n in range(args.messages):
        when = now - timedelta(minutes=rng.randint(0, 25 * 24 * 60))
        message_id = f"<bench{n}.{rng.randint(0, 10**9)}@mail.test>"
        if rng.random() < args.known:
            k = rng.randrange(args.contacts)
            contact = f"contact{k}@customer{k % 40}.test"
            reply_to = rng.choice(known_ids) if known_ids and rng.random() < 1 / 3 else None
            if rng.random() < 0.5:
                folder, sender, to = "INBOX", contact, mail_user
            else:
                folder, sender, to = SENT_FOLDER, mail_user, contact
            known_ids.append(message_id)
        else:
            reply_to = None
            folder, sender, to = "INBOX", f"someone{n}@stranger{n % 97}.test", mail_user
        raw = message_bytes(
            sender=sender,
            to=to,
            subject=f"{'Re: ' if reply_to else ''}Topic {n % 500}",
            body=f"Message {n}.\n" + "Some words of a business email. " * rng.randint(5, 60),
            message_id=message_id,
            in_reply_to=reply_to,
            date=when,
        )
        messages.append((folder, raw, when))
    return messages


def fill(server, mail_user: str, messages) -> float:
    import imaplib

    from tests.mailserver import _quoted

    started = time.perf_counter()
    imap = server.connect(mail_user)
    for folder, raw, when in messages:
        imap.append(_quoted(folder), None, imaplib.Time2Internaldate(when), raw)
    imap.logout()
    return time.perf_counter() - started


def run(args) -> None:
    import django

    django.setup()
    from django.db import connection, transaction

    from crm.choices import MailSecurity
    from crm.mail.sync import mailbox_sync
    from crm.models import Account, Contact, Mailbox, MailMessage, User
    from tests.mailserver import HOST, MailServer

    statements = [0]

    def count_statement(execute, sql, params, many, context):
        statements[0] += 1
        return execute(sql, params, many, context)

    rng = random.Random(args.seed)
    root = Path(tempfile.mkdtemp(prefix="crm-bench-dovecot-"))
    server = MailServer(root).start()
    try:
        mail_user = server.add_user("seller@bench.test", "bench-password")
        messages = build_messages(args, mail_user, rng)
        fill_seconds = fill(server, mail_user, messages)
        print(f"Filled the mailbox: {len(messages):,} messages in {fill_seconds:.1f} s")
        try:
            with transaction.atomic():
                owner = User.objects.create(username="bench-mail-seller", email=mail_user)
                accounts = [
                    Account(name=f"Customer {n}", domain=f"customer{n}.test", owner=owner)
                    for n in range(40)
                ]
                Account.objects.bulk_create(accounts)
                Contact.objects.bulk_create(
                    Contact(
                        first_name="Contact",
                        last_name=str(k),
                        email=f"contact{k}@customer{k % 40}.test",
                        account=accounts[k % 40],
                        owner=owner,
                    )
                    for k in range(args.contacts)
                )
                mailbox = Mailbox.objects.create(
                    user=owner,
                    email_address=mail_user,
                    imap_host=HOST,
                    imap_port=server.imap_port,
                    imap_security=MailSecurity.NONE,
                    imap_username=mail_user,
                    imap_password="bench-password",
                )
                started = time.perf_counter()
                with connection.execute_wrapper(count_statement):
                    first = mailbox_sync(mailbox_id=mailbox.pk, time_budget=float("inf"))
                first_seconds = time.perf_counter() - started
                first_queries = statements[0]
                stored = MailMessage.objects.count()
                started = time.perf_counter()
                second = mailbox_sync(mailbox_id=mailbox.pk, time_budget=float("inf"))
                second_seconds = time.perf_counter() - started
                raise Rollback()
        except Rollback:
            pass
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)

    print()
    print("| sync | messages read | stored | seconds | messages/s |")
    print("| --- | ---: | ---: | ---: | ---: |")
    print(
        f"| first (all {args.messages:,}) | {first.fetched:,} | {first.imported:,} "
        f"| {first_seconds:.1f} | {first.fetched / first_seconds:,.0f} |"
    )
    print(
        f"| second (nothing new) | {second.fetched:,} | {second.imported:,} | {second_seconds:.2f} | |"
    )
    print(f"\nMessages stored in the database after the first sync: {stored:,} (rolled back).")
    print(
        f"SQL statements of the first sync: {first_queries:,} "
        f"({first_queries / max(first.fetched, 1):.1f} per message read)."
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--contacts", type=int, default=200, help="known contacts, at 40 companies")
    parser.add_argument("--known", type=float, default=0.6)
    parser.add_argument("--seed", type=int, default=7)
    run(parser.parse_args())


if __name__ == "__main__":
    main()
