from django.conf import settings
from django.db import models

from crm.choices import SignInOutcome


class SignInEvent(models.Model):
    """One attempt to sign in, successful or not: who (when the username or email named a
    user), what they typed as login, from which address and browser, and how it ended. Users see
    their own on their settings page; admins see everyone's in Django admin."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="signin_events",
    )
    login = models.CharField(max_length=150, blank=True)
    outcome = models.CharField(max_length=16, choices=SignInOutcome.choices)
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["user", "-at"], name="signin_user_at")]

    def __str__(self):
        return f"{self.login or self.user} {self.outcome} {self.at:%Y-%m-%d %H:%M}"
