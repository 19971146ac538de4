"""Leads as records rules watch (their status is their stage), and the action "enrol in a
sequence". Registered from ``leads/apps.py``."""

from django.core.exceptions import ValidationError


def sequence_choices():
    from leads.models import Sequence

    return list(Sequence.objects.filter(is_active=True).order_by("name").values_list("pk", "name"))


def enrol_clean(params, entity) -> dict:
    from leads.models import Sequence

    try:
        sequence = Sequence.objects.get(pk=int(params.get("sequence")), is_active=True)
    except (TypeError, ValueError, Sequence.DoesNotExist):
        raise ValidationError("Choose an active sequence.") from None
    return {"kind": "enrol_sequence", "sequence": sequence.pk}


def enrol_run(*, record, params, user, **kwargs) -> str:
    """Through the sequences' own enrolment: once per lead and sequence, never a closed or
    qualified lead; its emails go out only with the lead's consent."""
    from leads.models import Sequence
    from leads.services.sequences import lead_enrol

    sequence = Sequence.objects.filter(pk=params["sequence"], is_active=True).first()
    if sequence is None:
        raise ValidationError("The sequence was deleted or switched off.")
    enrollment = lead_enrol(lead=record, sequence=sequence, user=user)
    if enrollment is None:
        raise ValidationError(f"A {record.get_status_display().lower()} lead is not enrolled.")
    return f"Enrolled in the sequence “{sequence}”."


def register() -> None:
    from crm.automation.registry import automation
    from leads.choices import LeadStatus
    from leads.models import Lead

    automation.register_entity(
        "lead",
        Lead,
        label="lead",
        stage_field="status",
        stage_choices=lambda: LeadStatus.choices,
    )
    automation.register_field("lead", "score", "Score")
    automation.register_field(
        "lead", "status", "Status", kind="choice", choices=lambda: LeadStatus.choices
    )
    automation.register_action(
        "enrol_sequence",
        "Enrol in a sequence",
        clean=enrol_clean,
        run=enrol_run,
        entities=["lead"],
        select=("sequence", "Sequence", sequence_choices),
    )
