"""Reading an uploaded record file, CSV or XLSX, as rows of text cells.

Rows are numbered as a spreadsheet shows them (the header is row 1). CSV comes through
``csv.reader`` (UTF-8, with or without a byte order mark); a cell our own exports made
formula-safe (``'=…``) reads back as it was. XLSX comes through openpyxl's read-only mode (row
by row, never the whole sheet in memory), each cell turned into the text a CSV would hold.
"""

import csv
import datetime as dt
import io
from collections.abc import Iterator

from crm.csvfiles import FORMULA_PREFIXES


def cell_text(value) -> str:
    """An XLSX cell's value as text: whole numbers without ``.0``, dates as ``YYYY-MM-DD``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, dt.datetime):
        if value.time() == dt.time(0):
            return value.date().isoformat()
        return value.isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


def unescape(text: str) -> str:
    """A formula-safe cell (``'=x``, as ``crm.csvfiles`` writes it) back to its value."""
    if text.startswith("'") and text[1:].startswith(FORMULA_PREFIXES):
        return text[1:]
    return text


def _csv_rows(handle) -> Iterator[list[str]]:
    text = io.TextIOWrapper(handle, encoding="utf-8-sig", errors="replace", newline="")
    for cells in csv.reader(text):
        yield [unescape(cell) for cell in cells]


def _xlsx_rows(handle) -> Iterator[list[str]]:
    from django.conf import settings
    from openpyxl import load_workbook

    max_rows, max_columns = settings.CSV_UPLOAD_MAX_ROWS, settings.CSV_UPLOAD_MAX_COLUMNS
    book = load_workbook(handle, read_only=True, data_only=True)
    try:
        sheet = book.worksheets[0]
        # The upload check read the sheet's stated size; a sheet whose rows outrun it is cut
        # off here rather than read without end.
        for number, values in enumerate(sheet.iter_rows(values_only=True, max_col=max_columns)):
            if number > max_rows:
                raise ValueError(f"The sheet has more than {max_rows:,} rows.")
            yield [cell_text(v) for v in values]
    finally:
        book.close()


def table_rows(job) -> Iterator[tuple[int, list[str]]]:
    """(row number, cells) of the job's file, the header first (row 1)."""
    job.file.open("rb")
    try:
        reader = _xlsx_rows if job.file_format == "xlsx" else _csv_rows
        yield from enumerate(reader(job.file.file), start=1)
    finally:
        job.file.close()


def read_headers(job) -> list[str]:
    for _, cells in table_rows(job):
        return [c.strip() for c in cells]
    return []
