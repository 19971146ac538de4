"""Dashboard pages: each is a ``DashboardView`` with its figures; the index lists those the user
may open."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST

from analytics import services
from analytics.dashboards import clv, funnel, pipeline, retention, support
from analytics.dashboards.base import ACCOUNT_SEGMENTS, EVERY_ROLE, DashboardView
from analytics.models import CLVFit
from crm.choices import Role
from crm.permissions import may_manage
from crm.segments.choices import SegmentTarget
from crm.views.submissions import submitted_once


class PipelineDashboard(DashboardView):
    title = "Pipeline"
    intro = "Open pipeline, forecast against quota, win rates, deal size, cycle and velocity."
    figures = pipeline.FIGURES
    segment_targets = ACCOUNT_SEGMENTS


class FunnelDashboard(DashboardView):
    title = "Lead funnel"
    intro = "Leads by source and campaign, conversion to won, speed, and campaign ROI."
    figures = funnel.FIGURES
    segment_targets = (SegmentTarget.LEAD, *ACCOUNT_SEGMENTS)


class SupportDashboard(DashboardView):
    """Every role: agents and admins see the whole desk, managers their teams' queues and
    people, reps the tickets of their own accounts (``Ticket.visible_to``)."""

    title = "Support"
    intro = "Backlog, response and resolution times, SLA attainment, CSAT, tickets per account."
    figures = support.FIGURES
    segment_targets = ACCOUNT_SEGMENTS
    roles = EVERY_ROLE
    people_roles = (Role.SUPPORT_AGENT,)
    unpinned_roles = frozenset({Role.MANAGER, Role.ADMIN, Role.SUPPORT_AGENT})


class RetentionDashboard(DashboardView):
    title = "Retention and churn"
    intro = "Logo churn, GRR and NRR, the MRR waterfall, cohorts, churn reasons, health, NPS."
    figures = retention.FIGURES
    segment_targets = ACCOUNT_SEGMENTS


class CLVDashboard(DashboardView):
    title = "Customer lifetime value"
    intro = (
        "Historical and predicted value per account and segment (BG/NBD and Gamma-Gamma), "
        "P(alive), RFM segments, and customer value against acquisition cost by campaign."
    )
    template_name = "analytics/clv.html"
    figures = clv.FIGURES
    segment_targets = ACCOUNT_SEGMENTS

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        context["fit"] = CLVFit.objects.first()
        context["refit_job"] = services.clv_refit_status()
        context["can_refit"] = may_manage(self.request.user)
        return context


@login_required
@require_POST
@submitted_once
def clv_refit(request):
    """Queue a refit of the CLV models (managers and admins); one runs at a time."""
    if not may_manage(request.user):
        raise Http404("No such page.")
    with transaction.atomic():
        queued = services.clv_refit_request(user=request.user)
    if queued:
        messages.success(request, "A refit is queued; the figures change when it finishes.")
    else:
        messages.info(request, "A refit is already running.")
    return HttpResponseRedirect(reverse("analytics:clv"))


DASHBOARDS = [
    ("analytics:pipeline", PipelineDashboard),
    ("analytics:funnel", FunnelDashboard),
    ("analytics:support", SupportDashboard),
    ("analytics:retention", RetentionDashboard),
    ("analytics:clv", CLVDashboard),
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
