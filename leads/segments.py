"""Leads as a segment target, with their lifecycle and behavioural criteria."""

from django.db.models import Exists, OuterRef, Q

from crm.segments.criteria import standard_criteria
from crm.segments.registry import Column, Criterion, Group, Kind, segment_criteria
from leads.choices import EnrollmentState, Grade, LeadSource, LeadStatus
from leads.models import Enrollment, Lead


def register_lead_criteria():
    segment_criteria.register_target(
        "lead",
        Lead,
        label="Leads",
        select_related=("owner",),
        order_by=("-created_at", "-id"),
        columns=(
            Column("Name", lambda lead: lead.full_name),
            Column("Company", lambda lead: lead.company_name),
            Column("Email", lambda lead: lead.email),
            Column("Status", lambda lead: lead.get_status_display()),
            Column("Owner", lambda lead: lead.owner or ""),
        ),
    )
    criteria = [
        *standard_criteria(Lead),
        Criterion.for_field(
            "status",
            "Lead status",
            group=Group.LIFECYCLE,
            kind=Kind.MULTI_CHOICE,
            field="status",
            choices=LeadStatus.choices,
        ),
        Criterion.for_field(
            "source",
            "Lead source",
            group=Group.LIFECYCLE,
            kind=Kind.MULTI_CHOICE,
            field="source",
            choices=LeadSource.choices,
        ),
        Criterion.for_field(
            "grade",
            "Grade",
            group=Group.LIFECYCLE,
            kind=Kind.MULTI_CHOICE,
            field="grade",
            choices=Grade.choices,
        ),
        Criterion.for_field(
            "title", "Job title", group=Group.DEMOGRAPHIC, kind=Kind.TEXT, field="title"
        ),
        Criterion.for_field(
            "score", "Score", group=Group.BEHAVIOURAL, kind=Kind.NUMBER, field="score"
        ),
        Criterion(
            "in_sequence",
            "In an active sequence",
            Group.BEHAVIOURAL,
            Kind.BOOLEAN,
            build=lambda value, operator: Q(
                Exists(Enrollment.objects.filter(lead=OuterRef("pk"), state=EnrollmentState.ACTIVE))
            ),
        ),
    ]
    for criterion in criteria:
        segment_criteria.register("lead", criterion)
