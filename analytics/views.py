"""Dashboard pages: each is a ``DashboardView`` with its figures; the index lists those the user
may open."""

from django.contrib.auth.decorators import login_required
from django.http import Http404
from django.shortcuts import render
from django.urls import reverse

from analytics.dashboards import funnel, pipeline, support
from analytics.dashboards.base import EVERY_ROLE, DashboardView
from crm.choices import Role


class PipelineDashboard(DashboardView):
    title = "Pipeline"
    intro = "Open pipeline, forecast against quota, win rates, deal size, cycle and velocity."
    figures = pipeline.FIGURES


class FunnelDashboard(DashboardView):
    title = "Lead funnel"
    intro = "Leads by source and campaign, conversion to won, speed, and campaign ROI."
    figures = funnel.FIGURES


class SupportDashboard(DashboardView):
    """Every role: agents and admins see the whole desk, managers their teams' queues and
    people, reps the tickets of their own accounts (``Ticket.visible_to``)."""

    title = "Support"
    intro = "Backlog, response and resolution times, SLA attainment, CSAT, tickets per account."
    figures = support.FIGURES
    roles = EVERY_ROLE
    people_roles = (Role.SUPPORT_AGENT,)
    unpinned_roles = frozenset({Role.MANAGER, Role.ADMIN, Role.SUPPORT_AGENT})


DASHBOARDS = [
    ("analytics:pipeline", PipelineDashboard),
    ("analytics:funnel", FunnelDashboard),
    ("analytics:support", SupportDashboard),
]


@login_required
def dashboard_index(request):
    links = [
        (reverse(name), view.title, view.intro)
        for name, view in DASHBOARDS
        if view.allowed(request.user)
    ]
    if not links:
        raise Http404("No dashboards for this role.")
    return render(request, "analytics/index.html", {"links": links})
