"""The one retry policy of every Celery task: only a transient database error (a lock timeout,
a dropped connection, a restart) is retried, with exponential backoff and jitter, three times.
Anything else is a bug or bad data, which a retry would only repeat; beat's next run and the
sweeps pick up what a failed run left."""

from django.db import OperationalError


def transient_retry(*, backoff_max: int = 60) -> dict:
    """``@shared_task`` options; ``backoff_max`` (seconds) is longer for the nightly jobs, which
    can wait out a database restart."""
    return {
        "autoretry_for": (OperationalError,),
        "retry_backoff": True,
        "retry_backoff_max": backoff_max,
        "retry_jitter": True,
        "max_retries": 3,
    }
