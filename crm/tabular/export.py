"""Exports: the rows of a list page, as the user sees them, as CSV or XLSX.

The rows are read with ``iterator(chunk_size=...)`` over one query (the kind's related records
joined in), so an export of 100,000 rows never holds them all in memory and does not grow its
query count with the rows. CSV is streamed through ``crm.csvfiles`` (formula-safe, UTF-8 with a
byte order mark); XLSX is written row by row by openpyxl's write-only workbook into a temporary
file, then sent. In XLSX every text cell is stored as text, never as a formula, whatever it
starts with; numbers stay numbers.
"""

import datetime as dt
import re
import tempfile
from collections.abc import Iterable, Iterator
from decimal import Decimal

from django.http import FileResponse
from django.utils import timezone
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from crm.csvfiles import csv_response
from crm.replica import read_alias
from crm.tabular.kinds import RecordKind

CHUNK_SIZE = 2000
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
FORMATS = ("csv", "xlsx")


def export_queryset(kind: RecordKind, queryset, user):
    """``queryset`` (the list's rows, filtered and sorted) with every field loaded (a list page
    may read only what its table shows) and what the columns read joined in."""
    queryset = queryset.defer(None).using(read_alias())  # may lag: crm.replica
    related = kind.related_for(user)
    return queryset.select_related(*related) if related else queryset


def export_rows(kind: RecordKind, queryset, user) -> Iterator[list]:
    """The header, then one list of cells per record, read in chunks."""
    columns = kind.columns_for(user)
    yield [c.name for c in columns]
    for record in export_queryset(kind, queryset, user).iterator(chunk_size=CHUNK_SIZE):
        yield [c.value_cell(record) for c in columns]


def export_filename(kind: RecordKind, fmt: str) -> str:
    return f"{kind.name}-{timezone.localdate().isoformat()}.{fmt}"


def export_response(kind: RecordKind, queryset, user, fmt: str):
    rows = export_rows(kind, queryset, user)
    if fmt == "xlsx":
        return xlsx_response(rows, filename=export_filename(kind, "xlsx"), title=kind.label)
    return csv_response(rows, filename=export_filename(kind, "csv"))


def xlsx_cell(sheet, value):
    """One cell's value; text is always text: openpyxl would write a text starting with ``=``
    as a formula, so that one is a text cell of its own. Numbers stay numbers; characters XML
    cannot hold are dropped."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float | Decimal):
        return value
    if isinstance(value, dt.datetime):
        value = value.isoformat(timespec="seconds")
    elif isinstance(value, dt.date):
        value = value.isoformat()
    text = ILLEGAL_CHARACTERS_RE.sub("", str(value))
    if not text.startswith("="):
        return text
    cell = WriteOnlyCell(sheet, value=text)
    cell.data_type = "s"
    return cell


def xlsx_write(rows: Iterable[Iterable], handle, *, title: str = "Export") -> None:
    """Write ``rows`` (the header first) as one sheet of an XLSX workbook to ``handle``."""
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=re.sub(r"[\[\]:*?/\\]", "", title)[:31] or "Export")
    for row in rows:
        sheet.append([xlsx_cell(sheet, value) for value in row])
    workbook.save(handle)


def xlsx_response(rows: Iterable[Iterable], *, filename: str, title: str) -> FileResponse:
    """A download of ``rows`` as an XLSX file (built in a temporary file, then sent from it)."""
    handle = tempfile.TemporaryFile()  # noqa: SIM115  (FileResponse closes it once sent)
    xlsx_write(rows, handle, title=title)
    handle.seek(0)
    safe_name = re.sub(r"[^A-Za-z0-9._-]+", "-", filename).strip("-") or "export.xlsx"
    response = FileResponse(
        handle, as_attachment=True, filename=safe_name, content_type=XLSX_CONTENT_TYPE
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response
