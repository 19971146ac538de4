from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models

from crm.choices import WebhookDeliveryState
from crm.links import record_url
from crm.work import Leased


class WebhookEndpoint(models.Model):
    """An address of another system that the CRM tells about events (a lead created, a deal
    won…), signed per the Standard Webhooks specification with the endpoint's secret.

    ``event_types`` empty means every event type, including those added later; otherwise only
    the listed ones. An endpoint that keeps failing is disabled (``disabled_reason`` says why)
    until an admin enables it again."""

    url = models.URLField("URL", max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    event_types = ArrayField(
        models.CharField(max_length=60),
        blank=True,
        default=list,
        help_text="The events sent to this endpoint; none ticked means every event.",
    )
    secret = models.CharField(
        max_length=120, help_text="whsec_ and the base64 of the signing key; shown to admins."
    )
    previous_secret = models.CharField(
        max_length=120,
        blank=True,
        help_text="The secret before the last rotation, still signing until it expires.",
    )
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(
        default=0, help_text="Failed attempts in a row, across deliveries; a success resets it."
    )
    failing_since = models.DateTimeField(
        null=True, blank=True, help_text="The first failed attempt of the current streak."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["url", "id"]
        verbose_name = "webhook endpoint"

    def __str__(self):
        return self.description or self.url

    def get_absolute_url(self):
        return record_url("webhook_detail", self.pk)

    def subscribes_to(self, event_type: str) -> bool:
        return not self.event_types or event_type in self.event_types


class WebhookDelivery(Leased):
    """One event for one endpoint: the payload as it is sent, and where its delivery stands.

    Written in the transaction of the change it reports, delivered later by the webhook task,
    which leases the row while it sends (``crm.work``). ``event_id`` is the ``webhook-id``
    header: the same on every attempt and on a replay, so receivers can drop a copy."""

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.CharField(max_length=40, db_index=True)
    event_type = models.CharField(max_length=60)
    payload = models.JSONField()
    state = models.CharField(
        max_length=10,
        choices=WebhookDeliveryState.choices,
        default=WebhookDeliveryState.PENDING,
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    uncertain = models.BooleanField(
        default=False,
        help_text="A worker stopped while sending it, so it may have arrived; it is sent again "
        "with the same webhook-id.",
    )
    replay_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replays"
    )
    last_response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_response_body = models.TextField(
        blank=True, help_text="The start of the receiver's last answer (capped)."
    )
    last_error = models.TextField(blank=True)
    last_duration_ms = models.PositiveIntegerField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(fields=["endpoint", "-id"], name="webhook_delivery_log_idx"),
            models.Index(
                fields=["next_attempt_at", "id"],
                condition=models.Q(state=WebhookDeliveryState.PENDING),
                name="webhook_delivery_due_idx",
            ),
            models.Index(
                fields=["lease_until"],
                condition=models.Q(state=WebhookDeliveryState.SENDING),
                name="webhook_delivery_sending_idx",
            ),
            models.Index(
                fields=["id"],
                condition=models.Q(state=WebhookDeliveryState.FAILED) | models.Q(uncertain=True),
                name="webhook_delivery_problem_idx",
            ),
        ]

    def __str__(self):
        return f"{self.event_type} {self.event_id} → {self.endpoint_id}"
