"""POSTs carried out once per ``Idempotency-Key``: a client that retries after a timeout (or
sends twice) gets the first answer again, and nothing is created or done twice.

The key is claimed in the transaction that does the work, before the work (the (user, key)
unique index makes a concurrent send of the same key wait for the first and then find its
answer); an answer other than 2xx frees the key, so a corrected request may use it again. A key
sent again with a different method, path or body answers 422. Keys are forgotten after a day."""

import datetime as dt
import hashlib
import json

from django.db import transaction
from django.utils import timezone
from rest_framework import exceptions
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from crm.api.exceptions import IdempotencyKeyReused
from crm.models import ApiIdempotencyKey

KEEP = dt.timedelta(days=1)
MAX_KEY_LENGTH = 255
REPLAYED_HEADER = "Idempotent-Replayed"


def _fingerprint(request) -> str:
    digest = hashlib.sha256()
    digest.update(f"{request.method} {request.path}\n".encode())
    digest.update(json.dumps(request.data, sort_keys=True, default=str).encode())
    return digest.hexdigest()


def run_once(request, key: str, handler) -> Response:
    """``handler()``'s answer, or the answer it gave the first time ``key`` was sent."""
    if len(key) > MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise exceptions.ValidationError(
            {"Idempotency-Key": [f"At most {MAX_KEY_LENGTH} printable ASCII characters."]}
        )
    fingerprint = _fingerprint(request)
    now = timezone.now()
    # The user's keys past a day are forgotten as they send new ones (as sent forms' keys are).
    ApiIdempotencyKey.objects.filter(user=request.user, created_at__lt=now - KEEP).delete()
    with transaction.atomic():
        claim, first = ApiIdempotencyKey.objects.get_or_create(
            user=request.user, key=key, defaults={"fingerprint": fingerprint, "created_at": now}
        )
        if not first:
            if claim.fingerprint != fingerprint:
                raise IdempotencyKeyReused()
            response = Response(claim.body, status=claim.status_code)
            response[REPLAYED_HEADER] = "true"
            return response
        response = handler()
        if 200 <= response.status_code < 300:
            claim.status_code = response.status_code
            claim.body = json.loads(JSONRenderer().render(response.data) or b"null")
            claim.save(update_fields=["status_code", "body"])
        else:
            claim.delete()
    return response
