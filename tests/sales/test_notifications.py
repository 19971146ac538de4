"""Deals notify under the bell: the owner a deal is given to, and the owner's team (members and
managers, not whoever won it) when it is won."""

import pytest

from crm.models import Notification
from sales import services
from tests.factories.crm import AccountFactory

pytestmark = pytest.mark.django_db


def test_a_deal_given_to_a_rep_notifies_them(deal, rep, rep2, manager):
    services.opportunity_update(opportunity=deal, user=manager, owner=rep2)
    notification = Notification.objects.get(kind="assigned")
    assert notification.recipient == rep2 and notification.actor == manager
    assert notification.url == deal.get_absolute_url()
    services.opportunity_update(opportunity=deal, user=rep2, owner=rep2)  # no change
    assert Notification.objects.filter(kind="assigned").count() == 1


def test_a_deal_created_for_oneself_notifies_nobody(rep, manager):
    account = AccountFactory(owner=rep)
    services.opportunity_create(user=rep, name="Own", account=account)
    assert not Notification.objects.exists()
    services.opportunity_create(user=manager, name="Given", account=account, owner=rep)
    assert Notification.objects.get().recipient == rep


def test_a_won_deal_notifies_the_team_but_not_the_winner(deal, rep, rep2, manager, win):
    win(deal, rep)
    won = Notification.objects.filter(kind="deal_won")
    assert set(won.values_list("recipient__username", flat=True)) == {"rep2", "manager"}
    # Only who may open the deal gets the link: a rep sees only their own deals.
    assert won.get(recipient=manager).url == deal.get_absolute_url()
    assert won.get(recipient=rep2).url == ""
    win(deal, rep)  # a repeated win changes nothing
    assert won.count() == 2
