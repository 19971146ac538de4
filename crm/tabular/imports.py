"""Importing a record file: upload, map columns, dry run, then a durable job.

Each row goes through the kind's create or update service (the ones the forms call), so
validation, signals and timeline lines are the same as by hand. A row matched to an existing
record (by the first key column the file has and the row fills: ``id``, email, SKU…) changes only
the columns the file has, and only those whose value differs: an export edited in a few cells and
imported back updates exactly the edited rows and counts the others unchanged. A record the user
may see but not change, an unknown id, a bad value or a service's refusal is reported for that
row; the other rows are imported.

The run follows the lead import's durable pattern (``crm.work``): it leases the job, and each
chunk of rows commits in one transaction with the job's counters and the last row it covers,
renewing the lease; each row is its own savepoint, so one refused row leaves the chunk's others.
A killed run's job is woken by the sweep once its lease runs out and goes on after the last
committed chunk. A worker told to stop (SIGTERM) finishes the chunk in progress, gives the lease
up and queues the job again, so another worker goes on from there at once. The dry run does the same work for the first rows inside a transaction that is
rolled back, so it reports what the import would do and writes nothing.
"""

import csv
import logging
from dataclasses import dataclass, field

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, OperationalError, transaction
from django.db.models import F
from django.utils import timezone

from crm import registry
from crm.choices import TabularImportMode, TabularImportStatus
from crm.csvfiles import csv_lines, row_text
from crm.faults import SimulatedKill
from crm.history import Source
from crm.history import source as history_source
from crm.models import TabularImportJob, TabularImportRowError
from crm.selectors import is_record_key
from crm.tabular.columns import CellError, Context, same_value
from crm.tabular.files import cell_text, read_headers, table_rows
from crm.tabular.kinds import RecordKind
from crm.uploads import files_delete, table_upload_check
from crm.work import (
    Problem,
    enqueue_quietly,
    jobs_in_trouble,
    jobs_wake,
    lease_end,
    lease_free,
    lease_hand_over,
    lease_release,
    lease_take,
    stop_requested,
    worker_name,
)

logger = logging.getLogger(__name__)

CHUNK_SIZE = 200
Status = TabularImportStatus


class RowError(Exception):
    """A row that is not imported; the message says why (it goes to the error report)."""


class _DryRun(Exception):
    """Raised at the end of a dry run to roll back everything it did."""


@dataclass
class Outcome:
    """What one row did (or would do): ``created``, ``updated``, ``unchanged``, ``skipped`` or
    ``error``, with the record, the changed columns and the reason."""

    action: str
    record: object = None
    changed: list[str] = field(default_factory=list)
    reason: str = ""


def kind_of(job: TabularImportJob) -> RecordKind:
    kind = registry.tabular.get(job.kind)
    if kind is None:
        raise RowError(f"“{job.kind}” is not a kind of record that imports")
    return kind


def mappable_columns(kind: RecordKind, user) -> list:
    """The columns a file column may fill: importable ones and the keys, as this user sees them."""
    return [c for c in kind.columns_for(user) if c.importable or c.name in kind.keys]


def _key(text: str) -> str:
    return " ".join(text.strip().lower().replace("_", " ").split())


def guess_mapping(kind: RecordKind, user, headers: list[str]) -> dict[str, str]:
    """File column → kind column, by the column's name, label or aliases (case and spacing
    aside); an exported file maps itself."""
    names = {}
    for column in mappable_columns(kind, user):
        for word in (column.name, column.label, *column.aliases):
            names.setdefault(_key(word), column.name)
    mapping, taken = {}, set()
    for header in headers:
        name = names.get(_key(header))
        if name and name not in taken:
            mapping[header] = name
            taken.add(name)
    return mapping


@transaction.atomic
@transaction.atomic
def tabular_import_create(*, user, kind: RecordKind, upload, mode: str) -> TabularImportJob:
    """Check the upload (content, size, rows, columns), keep it, and guess its mapping. A file
    refused after it was stored leaves neither the job nor the file behind."""
    if not kind.may_import(user):
        raise PermissionDenied
    file_format = table_upload_check(upload)
    job = TabularImportJob(
        kind=kind.name,
        created_by=user,
        mode=mode,
        file_format=file_format,
        original_name=upload.name[:255],
    )
    job.file.save(upload.name, upload, save=False)
    job.save()
    headers = read_headers(job)
    if not any(headers):
        files_delete([(job.file.storage, job.file.name)])
        raise ValidationError("The file has no header row; the first row must name the columns.")
    job.mapping = guess_mapping(kind, user, headers)
    job.save(update_fields=["mapping"])
    return job


def tabular_import_map(*, job: TabularImportJob, mapping: dict, mode: str) -> TabularImportJob:
    job.mapping = mapping
    job.mode = mode
    job.save(update_fields=["mapping", "mode"])
    return job


# --- one row --------------------------------------------------------------------------------


def _row_values(header_index: dict[int, str], cells: list[str]) -> dict[str, str]:
    return {name: cells[i] for i, name in header_index.items() if i < len(cells)}


def _header_index(job: TabularImportJob, headers: list[str]) -> dict[int, str]:
    return {i: job.mapping[h] for i, h in enumerate(headers) if job.mapping.get(h)}


def _find(kind: RecordKind, user, values: dict, ctx: Context):
    """The record the row names by its first filled key, or None (a new record)."""
    visible = kind.selector(user=user)
    noun = kind.verbose_name
    for key in kind.keys:
        text = (values.get(key) or "").strip()
        if not text:
            continue
        if key == "id":
            if not is_record_key(text.removesuffix(".0")):
                raise RowError(f"id “{text}” is not a record id")
            found = visible.filter(pk=int(text.removesuffix(".0"))).first()
            if found is None:
                raise RowError(f"there is no {noun} #{text} that you can see")
            return found
        column = kind.column(key)
        value = text
        if column is not None and column.importable:
            try:
                value = column.parse(text, ctx)  # the key as stored (an email in lower case)
            except CellError as exc:
                raise RowError(str(exc)) from None
        if value in ("", None):
            continue
        found = list(visible.filter(**{f"{key}__iexact": value}).order_by("pk")[:2])
        if len(found) > 1:
            raise RowError(f"more than one {noun} has the {key} “{value}”: add the id column")
        return found[0] if found else None
    return None


def _reads_as_stored(column, record, text: str) -> bool:
    """Whether a cell still reads as the record's stored value does in an export (so it is
    unchanged without being parsed: an export re-imported by a user who may not pick the
    stored owner is still unchanged)."""
    return text.strip() == cell_text(column.value_cell(record)).strip()


def _service_data(columns: dict, values: dict) -> dict:
    """Parsed values by the service's keywords; custom fields together under ``custom``."""
    data = {}
    for name, value in values.items():
        column = columns[name]
        if column.custom_key:
            data.setdefault("custom", {})[column.custom_key] = value
        else:
            data[column.keyword] = value
    return data


def import_row(kind: RecordKind, job: TabularImportJob, ctx: Context, values: dict) -> Outcome:
    """Match, parse and write one row (the caller holds a savepoint around it)."""
    user = ctx.user
    columns = ctx.remember("columns", lambda: kind.columns_by_name(user))
    record = _find(kind, user, values, ctx)
    parsed, problems = {}, []
    for name, text in values.items():
        column = columns.get(name)
        if column is None or not column.importable:
            continue
        if record is not None and _reads_as_stored(column, record, text):
            continue
        try:
            parsed[name] = column.parse(text, ctx)
        except CellError as exc:
            problems.append(str(exc))
    if record is not None and job.mode == TabularImportMode.CREATE:
        return Outcome("skipped", record, reason=f"already exists as #{record.pk}")
    if problems:
        raise RowError("; ".join(problems))
    if record is not None:
        changes = {
            name: value
            for name, value in parsed.items()
            if not same_value(value, columns[name].read(record))
        }
        if not changes:
            return Outcome("unchanged", record)
        changeable = kind.selector(user=user, for_change=True).filter(pk=record.pk).exists()
        if not changeable:
            raise RowError(f"you may not change {kind.verbose_name} #{record.pk}")
        record = kind.update(record=record, user=user, data=_service_data(columns, changes))
        return Outcome("updated", record, changed=sorted(changes))
    if job.mode == TabularImportMode.UPDATE:
        return Outcome("skipped", reason="matches no existing record (the import only updates)")
    if kind.create is None:
        raise RowError(f"new {kind.label.lower()} cannot be created by import")
    missing = [
        c.label
        for c in columns.values()
        if c.required and c.importable and parsed.get(c.name) in (None, "")
    ]
    if missing:
        raise RowError(f"{', '.join(missing)} missing for a new {kind.verbose_name}")
    parsed = {
        name: value
        for name, value in parsed.items()
        if value is not None or not columns[name].custom_key
    }
    record = kind.create(user=user, data=_service_data(columns, parsed))
    return Outcome("created", record)


def _reason(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    if isinstance(exc, PermissionDenied):
        return str(exc) or "you may not do this"
    if isinstance(exc, DatabaseError):
        return "the database refused the row (a value is too long or out of range)"
    return str(exc)


def _guarded(kind, job, ctx, values) -> Outcome:
    """``import_row`` in its own savepoint: a refused row rolls back alone."""
    try:
        with transaction.atomic():
            return import_row(kind, job, ctx, values)
    except (RowError, ValidationError, PermissionDenied) as exc:
        return Outcome("error", reason=_reason(exc)[:500])
    except DatabaseError as exc:
        if isinstance(exc, OperationalError):
            raise  # the database itself is in trouble: the run stops and is resumed
        return Outcome("error", reason=_reason(exc))


# --- dry run ----------------------------------------------------------------------------------


@dataclass
class DryRun:
    rows: list[dict]
    counts: dict[str, int]
    checked: int
    total: int


def dry_run(job: TabularImportJob, *, limit: int | None = None) -> DryRun:
    """What the import would do with the first ``limit`` rows (``IMPORT_DRY_RUN_ROWS``), each
    row's outcome and problems; done in a transaction that is rolled back: nothing is kept, and
    no email or task leaves (they go out only after a commit)."""
    limit = limit or settings.IMPORT_DRY_RUN_ROWS
    kind = kind_of(job)
    ctx = Context(user=job.created_by)
    rows, counts, total = [], {}, 0
    try:
        with transaction.atomic():
            index = None
            for number, cells in table_rows(job):
                if index is None:
                    index = _header_index(job, [c.strip() for c in cells])
                    continue
                if not any(c.strip() for c in cells):
                    continue
                total += 1
                if len(rows) >= limit:
                    continue
                outcome = _guarded(kind, job, ctx, _row_values(index, cells))
                counts[outcome.action] = counts.get(outcome.action, 0) + 1
                rows.append(
                    {
                        "line": number,
                        "action": outcome.action,
                        "changed": outcome.changed,
                        "reason": outcome.reason,
                        "record": str(outcome.record) if outcome.record is not None else "",
                    }
                )
            raise _DryRun
    except _DryRun:
        pass
    return DryRun(rows=rows, counts=counts, checked=len(rows), total=total)


# --- the job ----------------------------------------------------------------------------------


class LeaseLost(Exception):
    """Another run took the job over (this one was judged dead): stop without touching it."""


class Stopping(Exception):
    """This worker is shutting down: hand the job over at the checkpoint just committed."""


def _runnable(job_id: int):
    return TabularImportJob.objects.filter(
        pk=job_id, status__in=[Status.UPLOADED, Status.QUEUED, Status.RUNNING]
    )


def tabular_import_run(
    *,
    job_id: int,
    chunk_size: int = CHUNK_SIZE,
    owner: str | None = None,
    crash_after_chunks: int | None = None,
) -> TabularImportJob | None:
    """Run (or resume) an import to the end, as ``owner`` (this worker by default): leased,
    checkpointed per chunk, given back at the end. ``crash_after_chunks`` is for tests: the run
    stops as if killed after that many chunks."""
    owner = owner or worker_name()
    if not lease_take(_runnable(job_id), owner=owner, status=Status.RUNNING, runs=F("runs") + 1):
        return TabularImportJob.objects.filter(pk=job_id).first()
    job = TabularImportJob.objects.select_related("created_by").get(pk=job_id)
    mine = TabularImportJob.objects.filter(pk=job.pk, lease_owner=owner)
    try:
        if not job.total_rows:
            job.total_rows = sum(1 for _ in table_rows(job))
        mine.update(
            started_at=job.started_at or timezone.now(),
            total_rows=job.total_rows,
            lease_until=lease_end(),
        )
        with history_source(Source.IMPORT, user=job.created_by, job=job.pk, kind=job.kind):
            _run_chunks(job, owner, chunk_size, crash_after_chunks)
    except LeaseLost:
        return TabularImportJob.objects.filter(pk=job_id).first()
    except Stopping:
        lease_hand_over(mine, owner=owner)
        return TabularImportJob.objects.filter(pk=job_id).first()
    except (OperationalError, SoftTimeLimitExceeded):
        lease_release(mine, owner=owner)
        raise
    except (OSError, UnicodeError, ValueError, csv.Error, RowError) as exc:
        lease_release(mine, owner=owner, status=Status.FAILED, message=f"{exc}"[:2000])
        return TabularImportJob.objects.filter(pk=job_id).first()
    except SimulatedKill:
        raise
    except Exception as exc:
        lease_release(
            mine,
            owner=owner,
            status=Status.FAILED,
            message=f"The import stopped on an unexpected error ({type(exc).__name__}); "
            "the rows before it are imported. Resume once it is fixed.",
        )
        raise
    lease_release(mine, owner=owner, status=Status.DONE, finished_at=timezone.now())
    return TabularImportJob.objects.filter(pk=job_id).first()


def _run_chunks(job, owner, chunk_size, crash_after_chunks) -> None:
    kind = kind_of(job)
    if job.created_by is None or not kind.may_import(job.created_by):
        raise RowError("The user who started this import may no longer import these records.")
    ctx = Context(user=job.created_by)
    index, chunk, done_chunks = None, [], 0
    for number, cells in table_rows(job):
        if index is None:
            index = _header_index(job, [c.strip() for c in cells])
            continue
        if number <= job.processed_rows:
            continue  # committed by an earlier run
        chunk.append((number, cells))
        if len(chunk) >= chunk_size:
            _commit_chunk(job, kind, ctx, index, chunk, owner)
            chunk = []
            done_chunks += 1
            if crash_after_chunks is not None and done_chunks >= crash_after_chunks:
                raise SimulatedKill
            if stop_requested():
                raise Stopping
    if chunk:
        _commit_chunk(job, kind, ctx, index, chunk, owner)


def _commit_chunk(job, kind, ctx, index, chunk, owner) -> None:
    """Import one chunk and move the checkpoint and counters with it in one transaction (which
    also renews the lease: the checkpoint is the proof of life)."""
    last = chunk[-1][0]
    counts = {"created": 0, "updated": 0, "unchanged": 0, "skipped": 0, "error": 0}
    with transaction.atomic():
        locked = TabularImportJob.objects.select_for_update().get(pk=job.pk)
        if locked.lease_owner != owner or locked.status != Status.RUNNING:
            raise LeaseLost
        if locked.processed_rows >= last:
            job.processed_rows = locked.processed_rows
            return
        errors = []
        for number, cells in chunk:
            if not any(c.strip() for c in cells):
                continue
            outcome = _guarded(kind, job, ctx, _row_values(index, cells))
            counts[outcome.action] += 1
            if outcome.action in ("error", "skipped"):
                errors.append(
                    TabularImportRowError(
                        job=job,
                        line=number,
                        reason=(
                            outcome.reason
                            if outcome.action == "error"
                            else f"Skipped: {outcome.reason}"
                        )[:500],
                        raw=row_text(cells)[:2000],
                    )
                )
        TabularImportRowError.objects.bulk_create(errors)
        TabularImportJob.objects.filter(pk=job.pk).update(
            processed_rows=last,
            created_count=F("created_count") + counts["created"],
            updated_count=F("updated_count") + counts["updated"],
            unchanged_count=F("unchanged_count") + counts["unchanged"],
            skipped_count=F("skipped_count") + counts["skipped"],
            error_count=F("error_count") + counts["error"],
            lease_until=lease_end(),
        )
    job.processed_rows = last


def tabular_import_queue(job: TabularImportJob) -> None:
    """Start an uploaded job once (a conditional UPDATE); the sweep starts it if the message is
    lost."""
    if TabularImportJob.objects.filter(pk=job.pk, status=Status.UPLOADED).update(
        status=Status.QUEUED
    ):
        _enqueue_on_commit(job.pk)


def _enqueue_on_commit(job_id: int) -> None:
    from crm.tasks import tabular_import_run as task

    transaction.on_commit(lambda: enqueue_quietly(task, job_id))


def tabular_import_resume(job: TabularImportJob) -> bool:
    """Run a stopped job again after its last committed chunk: a failed one, or a queued or
    running one no live worker holds. False for a job that is done or being worked on."""
    restarted = TabularImportJob.objects.filter(pk=job.pk, status=Status.FAILED).update(
        status=Status.QUEUED, message="", lease_owner="", lease_until=None
    )
    stalled = TabularImportJob.objects.filter(
        lease_free(timezone.now()), pk=job.pk, status__in=[Status.QUEUED, Status.RUNNING]
    )
    if not restarted and not stalled.exists():
        return False
    _enqueue_on_commit(job.pk)
    return True


def tabular_import_pending() -> int:
    """Imports waiting for or running in a worker (the queue depth metric)."""
    return TabularImportJob.objects.filter(status__in=[Status.QUEUED, Status.RUNNING]).count()


def tabular_import_sweep(*, now=None) -> int:
    from crm.tasks import tabular_import_run as task

    return jobs_wake(
        TabularImportJob.objects.all(),
        running=Status.RUNNING,
        queued=Status.QUEUED,
        task=task,
        now=now,
        label="Record import",
    )


def tabular_import_problems(limit: int) -> list[Problem]:
    jobs = jobs_in_trouble(
        TabularImportJob.objects.all(), running=Status.RUNNING, failed=Status.FAILED, limit=limit
    )
    return [
        Problem(
            pk=job.pk,
            title=f"{job} · row {job.processed_rows:,} of {job.total_rows:,}",
            state=job.trouble,
            detail=job.message,
            since=job.created_at,
            url=job.get_absolute_url(),
        )
        for job in jobs
    ]


def tabular_import_retry(pk: int) -> bool:
    job = TabularImportJob.objects.filter(pk=pk).first()
    return job is not None and tabular_import_resume(job)


def summary(job: TabularImportJob) -> str:
    return (
        f"{job}: {job.get_status_display().lower()}. Rows {job.done_rows} of {job.data_rows}: "
        f"created {job.created_count}, updated {job.updated_count}, unchanged "
        f"{job.unchanged_count}, skipped {job.skipped_count}, errors {job.error_count}."
    )


def error_report(job: TabularImportJob):
    """The report's rows (the header first): row number, reason, the original row."""
    yield ["row", "reason", "original row"]
    yield from (
        job.row_errors.order_by("line")
        .values_list("line", "reason", "raw")
        .iterator(chunk_size=2000)
    )


def errors_csv(job: TabularImportJob):
    return csv_lines(error_report(job))
