"""CSAT answers: one per survey, recorded with a conditional UPDATE so a double submit (two
tabs, a resent form) cannot overwrite the first answer."""

from django.db import transaction
from django.utils import timezone

from crm.choices import ActivityKind
from crm.services.timeline import activity_log
from support.models import CsatSurvey


@transaction.atomic
def csat_answer(*, survey: CsatSurvey, rating: int, comment: str = "", now=None) -> bool:
    """Record the answer; False when the survey was already answered."""
    now = now or timezone.now()
    if not 1 <= int(rating) <= 5:
        raise ValueError("rating must be 1 to 5")
    updated = CsatSurvey.objects.filter(pk=survey.pk, answered_at__isnull=True).update(
        rating=int(rating), comment=comment.strip()[:2000], answered_at=now
    )
    if not updated:
        return False
    activity_log(
        subject=survey.ticket,
        kind=ActivityKind.SYSTEM,
        summary=f"Customer rated the support {rating}/5",
        body=comment.strip()[:2000],
        occurred_at=now,
    )
    return True
