"""``python manage.py unlock_account <username-or-email> [--address IP]``: clear a sign-in
lockout at once instead of waiting out LOGIN_LOCKOUT_SECONDS (an admin locked out, or a user
on the phone). Each clearing is a line of the audit trail, done by "system"."""

import ipaddress

from django.core.management.base import BaseCommand, CommandError
from django.db.models import Q

from crm.models import User
from crm.services.people import address_unlock, user_unlock


class Command(BaseCommand):
    help = "Clear the failed sign-ins counted against an account and/or a client address."

    def add_arguments(self, parser):
        parser.add_argument(
            "login", nargs="?", help="the account's username or email (either, any case)"
        )
        parser.add_argument(
            "--address", help="also clear the failures counted against this client address"
        )

    def handle(self, *args, login=None, address=None, **options):
        if not login and not address:
            raise CommandError("Name an account (username or email), --address IP, or both.")
        if address:
            try:
                address = str(ipaddress.ip_address(address.strip()))
            except ValueError:
                raise CommandError(f"{address!r} is not an IP address.") from None
        user = None
        if login:
            login = login.strip()
            matches = list(
                User.objects.filter(Q(username__iexact=login) | Q(email__iexact=login)).order_by(
                    "pk"
                )[:2]
            )
            if not matches:
                raise CommandError(f"No user has the username or email {login!r}.")
            if len(matches) > 1:
                raise CommandError(f"{login!r} names more than one user: give the username.")
            user = matches[0]
        if user is not None:
            cleared = user_unlock(actor=None, user=user, via="unlock_account")
            self.stdout.write(
                f"Cleared the lockout of {user.get_username()} ({cleared} failed attempt"
                f"{'s' if cleared != 1 else ''} forgotten)."
            )
        if address:
            cleared = address_unlock(actor=None, ip=address, via="unlock_account")
            self.stdout.write(
                f"Cleared the lockout of address {address} ({cleared} failed attempt"
                f"{'s' if cleared != 1 else ''} forgotten)."
            )
