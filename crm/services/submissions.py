"""Forms sent once: claiming a form's key, remembering where its first answer went, and
forgetting keys after a week."""

import datetime as dt

from django.utils import timezone

from crm.models import SubmittedForm

#: How long a sent form's key is remembered: past a week the same page sent again does its
#: work again.
SUBMISSION_KEEP = dt.timedelta(days=7)


def submission_claim(*, user, key: str, path: str, now=None) -> tuple[SubmittedForm, bool]:
    """Claim ``key`` for ``user``: ``(row, True)`` the first time the form is sent, ``(row,
    False)`` when it was sent before and that send's work was committed.

    Call it inside the transaction that does the form's work, before the work: a concurrent send
    of the same key waits on the (user, key) unique index until that transaction ends, then finds
    its row (committed) or claims the key itself (rolled back, so a retry works)."""
    return SubmittedForm.objects.get_or_create(
        user=user, key=key, defaults={"path": path[:500], "created_at": now or timezone.now()}
    )


def submission_answered(*, submission: SubmittedForm, location: str) -> None:
    """Remember where the first answer took the user."""
    submission.location = location
    submission.save(update_fields=["location"])


def submission_release(*, submission: SubmittedForm) -> None:
    """The form did nothing (it came back with its errors): its key may be sent again."""
    submission.delete()


def submissions_forget(*, user, now=None) -> int:
    """Delete ``user``'s keys older than :data:`SUBMISSION_KEEP`; how many went."""
    cutoff = (now or timezone.now()) - SUBMISSION_KEEP
    deleted, _ = SubmittedForm.objects.filter(user=user, created_at__lt=cutoff).delete()
    return deleted
