"""Signatures per the Standard Webhooks specification (https://www.standardwebhooks.com/).

Every request carries ``webhook-id`` (the event's id, the same on every attempt), ``webhook-
timestamp`` (the attempt's Unix time) and ``webhook-signature``: ``v1,`` and the base64 of the
HMAC-SHA256 of ``{id}.{timestamp}.{body}`` keyed with the base64-decoded secret. Right after a
rotation the header holds two signatures, one per secret, separated by a space, so a receiver
with either secret accepts it.
"""

import base64
import hashlib
import hmac
import secrets

from django.utils import timezone

SECRET_PREFIX = "whsec_"
#: Bytes of a new secret's key (the specification asks for 24 to 64).
SECRET_BYTES = 32


def secret_new() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(*, secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signing_secrets(endpoint, now=None) -> list[str]:
    """The endpoint's secret, and the previous one while its grace period runs."""
    now = now or timezone.now()
    found = [endpoint.secret]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires and expires > now:
        found.append(endpoint.previous_secret)
    return found


def signed_headers(*, endpoint, msg_id: str, body: bytes, timestamp: int) -> dict[str, str]:
    signatures = " ".join(
        sign(secret=s, msg_id=msg_id, timestamp=timestamp, body=body)
        for s in signing_secrets(endpoint)
    )
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signatures,
    }
