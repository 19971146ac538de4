"""Imports of record files (CSV or XLSX) of any registered record kind (``crm.tabular``)."""

from datetime import timedelta

from django.conf import settings
from django.db import models

from crm.choices import TabularImportMode, TabularImportStatus
from crm.links import record_url
from crm.visibility import owner_scope
from crm.work import Leased

#: A queued or running import no worker holds for this long is shown as stopped.
STALLED_AFTER = timedelta(seconds=30)


class TabularImportJobQuerySet(models.QuerySet):
    def visible_to(self, user):
        return owner_scope(self, user, field="created_by")

    def changeable_by(self, user):
        return owner_scope(self, user, field="created_by")


class TabularImportJob(Leased):
    """One uploaded file of one record kind (accounts, deals, tickets…): how its columns map to
    the kind's columns, whether rows create, update or both, and how far the run got. Rows are
    committed in chunks with ``processed_rows`` (the last committed row), so a stopped run
    resumes after it; a run leases the job (``crm.work``) and the sweep wakes a worker for a
    job whose lease ran out."""

    kind = models.CharField(max_length=40, help_text="The record kind (crm.registry.tabular).")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    file = models.FileField(upload_to="imports/%Y/%m/")
    original_name = models.CharField(max_length=255, blank=True)
    file_format = models.CharField(max_length=4, default="csv")
    mapping = models.JSONField(default=dict, blank=True, help_text="File column → kind column.")
    mode = models.CharField(
        max_length=10, choices=TabularImportMode.choices, default=TabularImportMode.BOTH
    )
    status = models.CharField(
        max_length=10, choices=TabularImportStatus.choices, default=TabularImportStatus.UPLOADED
    )
    total_rows = models.PositiveIntegerField(default=0)
    processed_rows = models.PositiveIntegerField(
        default=0, help_text="The last row committed (the header is row 1)."
    )
    created_count = models.PositiveIntegerField(default=0)
    updated_count = models.PositiveIntegerField(default=0)
    unchanged_count = models.PositiveIntegerField(default=0)
    skipped_count = models.PositiveIntegerField(default=0)
    error_count = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)
    runs = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = TabularImportJobQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "id"], name="tabular_import_status_idx"),
            models.Index(
                fields=["created_by", "kind", "-created_at"], name="tabular_import_user_idx"
            ),
        ]

    def __str__(self):
        return f"Import {self.pk} of {self.kind} ({self.original_name})"

    def get_absolute_url(self):
        return record_url("tabular_import_detail", self.pk)

    @property
    def data_rows(self) -> int:
        return max(self.total_rows - 1, 0)

    @property
    def done_rows(self) -> int:
        return max(self.processed_rows - 1, 0)

    @property
    def percent(self) -> int:
        if not self.data_rows:
            return 100 if self.status == TabularImportStatus.DONE else 0
        return min(100, round(100 * self.done_rows / self.data_rows))

    @property
    def is_stalled(self) -> bool:
        """Queued or running, but no worker holds it: it waits for the sweep (about a minute)."""
        if self.status not in (TabularImportStatus.QUEUED, TabularImportStatus.RUNNING):
            return False
        return self.lease_lapsed(since=self.started_at or self.created_at, grace=STALLED_AFTER)


class TabularImportRowError(models.Model):
    """A row an import did not take (an error, or skipped by the chosen mode), and why."""

    job = models.ForeignKey(TabularImportJob, on_delete=models.CASCADE, related_name="row_errors")
    line = models.PositiveIntegerField(help_text="Row number in the file (the header is row 1).")
    reason = models.CharField(max_length=500)
    raw = models.TextField(blank=True)

    class Meta:
        ordering = ["job", "line"]
        indexes = [models.Index(fields=["job", "line"], name="tabular_error_line_idx")]

    def __str__(self):
        return f"row {self.line}: {self.reason}"
