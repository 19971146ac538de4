"""Receivers of earlier stages' signals, connected in ``apps.py``. They run inside the sender's
transaction (DESIGN.md) and only call services."""

from retention.services import advocacy, renewals, subscriptions, upsell


def on_opportunity_won(sender, *, opportunity, user=None, **kwargs):
    """A won deal with recurring products starts or expands subscriptions (or renews one); a
    deal opened from a recommendation marks it won."""
    subscriptions.subscriptions_from_won_deal(opportunity=opportunity, user=user)
    upsell.on_opportunity_closed(opportunity=opportunity, won=True)


def on_opportunity_lost(sender, *, opportunity, user=None, **kwargs):
    renewals.on_opportunity_lost(sender, opportunity=opportunity, user=user)
    upsell.on_opportunity_closed(opportunity=opportunity, won=False)


def on_lead_converted(sender, *, lead, **kwargs):
    advocacy.on_lead_converted(sender, lead=lead)
