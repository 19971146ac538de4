from django.conf import settings
from django.db import models
from django.db.models import Q

from crm.links import record_url
from crm.segments.choices import SegmentTarget
from crm.visibility import owner_scope


def _empty_definition():
    return {"op": "and", "children": []}


class SegmentQuerySet(models.QuerySet):
    def visible_to(self, user):
        """Shared segments for anyone with a role; private ones for whom ``owner_scope`` allows
        (the owner, their managers, admins)."""
        if not getattr(user, "is_authenticated", False) or not user.has_any_role:
            return self.none()
        if user.is_admin_role:
            return self
        owners = user.managed_user_ids if user.is_manager else {user.pk}
        return self.filter(Q(shared=True) | Q(owner_id__in=owners))

    def changeable_by(self, user):
        return owner_scope(self, user)


class Segment(models.Model):
    """A saved, dynamic set of contacts, accounts or leads ("VPs in Germany with no activity in
    30 days"): a tree of AND/OR conditions over registered criteria, evaluated afresh each time
    it is used (sequences, email campaigns, surveys, dashboards). Each user sees the members
    they may see; a shared segment is usable by everyone, a private one only by its owner."""

    name = models.CharField(max_length=120)
    description = models.CharField(max_length=300, blank=True)
    target = models.CharField(
        "holds", max_length=20, choices=SegmentTarget.choices, default=SegmentTarget.CONTACT
    )
    definition = models.JSONField(
        default=_empty_definition, help_text="AND/OR groups of {criterion, operator, value}."
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="segments",
    )
    shared = models.BooleanField(default=False, help_text="Everyone can see and use it.")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = SegmentQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        indexes = [
            models.Index(fields=["owner", "name"], name="segment_owner_idx"),
            models.Index(fields=["shared", "target", "name"], name="segment_shared_idx"),
            models.Index(fields=["target", "name"], name="segment_target_idx"),
            models.Index(fields=["-updated_at"], name="segment_updated_idx"),
        ]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return record_url("segment_edit", self.pk)


class SegmentSizeSnapshot(models.Model):
    """How many records a segment held on a day (as its owner sees it), taken daily by Celery,
    for the segment's size history."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="size_snapshots")
    date = models.DateField()
    size = models.PositiveBigIntegerField()
    taken_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["segment", "-date"]
        constraints = [
            models.UniqueConstraint(fields=["segment", "date"], name="segment_snapshot_day_uniq")
        ]

    def __str__(self):
        return f"{self.segment} on {self.date}: {self.size}"
