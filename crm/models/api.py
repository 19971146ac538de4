"""Personal access tokens for the REST API, and the answers of API requests sent with an
idempotency key."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class ApiTokenScope(models.TextChoices):
    READ = "read", "Read only"
    WRITE = "write", "Read and write"


class ApiToken(models.Model):
    """A personal access token: an integration acting for one user through the REST API, with
    that user's visibility and rights (a read token reads only). Only a hash of the secret is
    kept; the token itself is shown once, when its owner creates it on their settings page."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100, help_text="What the token is for.")
    prefix = models.CharField(
        max_length=16, unique=True, help_text="The token's first characters, shown to tell it."
    )
    secret_hash = models.CharField(max_length=64, help_text="SHA-256 of the whole token.")
    scope = models.CharField(
        max_length=10, choices=ApiTokenScope.choices, default=ApiTokenScope.READ
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "created_at"], name="apitoken_user_created_idx")]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def may_write(self) -> bool:
        return self.scope == ApiTokenScope.WRITE

    def is_live(self, now=None) -> bool:
        return self.revoked_at is None and self.expires_at > (now or timezone.now())


class ApiIdempotencyKey(models.Model):
    """A POST to the API sent with an ``Idempotency-Key`` header, and the answer it got: the
    same key sent again by the same user is answered with that answer, and nothing is done
    twice. Kept for a day."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(
        max_length=64, help_text="SHA-256 of the method, path and body the key was first sent with."
    )
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="apiidempotencykey_user_key_uniq")
        ]
        indexes = [
            models.Index(fields=["user", "created_at"], name="apiidempotencykey_user_age_idx")
        ]

    def __str__(self):
        return f"{self.key} by {self.user_id}"
