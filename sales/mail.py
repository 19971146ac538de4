"""Deals in imported email (``crm.mail.imports``)."""

from sales.choices import StageKind
from sales.models import Opportunity


def open_deals_of_correspondents(*, emails, contacts, accounts) -> list:
    """The open deals an email with these contacts belongs on.

    Every open deal that names one of the contacts as its primary contact: the person is on
    that deal. For an account none of whose open deals names them, its most recently active
    open deal: an account may run several deals at once (a renewal, an expansion), and copying
    every email onto all of them would bury each deal's own conversation; the deal being worked
    on now is the one the email most likely concerns."""
    if not contacts and not accounts:
        return []
    named = list(
        Opportunity.objects.filter(
            primary_contact__in=[c.pk for c in contacts], status=StageKind.OPEN
        ).order_by("-updated_at", "-id")
    )
    covered = {deal.account_id for deal in named}
    rest = [a.pk for a in accounts if a.pk not in covered]
    latest = (
        Opportunity.objects.filter(account_id__in=rest, status=StageKind.OPEN)
        .order_by("account_id", "-updated_at", "-id")
        .distinct("account_id")
        if rest
        else []
    )
    return [*named, *latest]
