"""The managers' block on the home page: the team's figures, read from the snapshots the
dashboards read (never from the records themselves), so the page stays quick at any size."""

from django.db.models import Max, Q, Sum
from django.utils import timezone

from analytics.models import DealDay, OpenDeals, OpenTickets, RollupState
from crm.currencies import company_currency
from crm.permissions import may_manage
from sales.choices import StageKind
from support.choices import TicketStatus


def team_figures(request):
    """Open pipeline, deals won this month and open tickets of what the user may see (a
    manager's teams, an admin's everything), as of the last snapshot refresh: the block's
    figures, kept for a minute (``HomeWidget.figures``)."""
    user = request.user
    if not may_manage(user):
        return None
    month_start = timezone.localdate().replace(day=1)
    pipeline = (
        OpenDeals.objects.visible_to(user)
        .order_by()
        .aggregate(
            deals=Sum("deals_count"),
            amount=Sum("amount"),
            weighted=Sum("weighted"),
            slipped=Sum("deals_count", filter=Q(slipped=True)),
        )
    )
    won = (
        DealDay.objects.visible_to(user)
        .filter(date__gte=month_start, status=StageKind.WON)
        .order_by()
        .aggregate(deals=Sum("deals_count"), amount=Sum("amount"))
    )
    tickets = (
        OpenTickets.objects.visible_to(user)
        .order_by()
        .aggregate(
            open=Sum("tickets"),
            pending=Sum("tickets", filter=Q(status=TicketStatus.PENDING)),
        )
    )
    as_of = RollupState.objects.aggregate(at=Max("refreshed_at"))["at"]
    return {
        "pipeline": pipeline,
        "won": won,
        "tickets": tickets,
        "as_of": as_of,
        "currency": company_currency(),  # the rollups' amounts are converted to it
    }


def team_figures_block(request, figures):
    """The block shows its figures (``team_figures``) and nothing else."""
    return figures
