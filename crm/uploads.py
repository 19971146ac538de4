"""Checks every CSV upload passes before anything keeps or parses it: its size, what it really
is (its first bytes, not its name), its columns, line lengths and rows.

The checks answer in well under a second whatever is uploaded: the size comes from the upload's
metadata without reading; the type and header from the first ``SNIFF_BYTES``; lines and rows
from one pass over the bytes in blocks, with newline positions found by numpy. A file that
would stall a worker (a 100,000-column header, one endless line, a ZIP renamed .csv) never
reaches the worker. Limits are settings (``CSV_UPLOAD_MAX_*``, README "Configuration")."""

import csv
import io

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.template.defaultfilters import filesizeformat

SNIFF_BYTES = 64 * 1024
BLOCK_BYTES = 4 * 1024 * 1024

#: Leading bytes of files people upload by mistake, with what to tell them.
NOT_CSV = (
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx file is one too): save it as CSV"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\xd0\xcf\x11\xe0", "an old Excel or Word file: save it as CSV"),
    (b"%PDF-", "a PDF document"),
    (b"\x1f\x8b", "a gzip archive: unpack it first"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive: unpack it first"),
    (b"Rar!", "a RAR archive: unpack it first"),
    (b"\xff\xfe", "UTF-16 text: save it as UTF-8"),
    (b"\xfe\xff", "UTF-16 text: save it as UTF-8"),
)


def limits() -> dict[str, int]:
    return {
        "bytes": settings.CSV_UPLOAD_MAX_BYTES,
        "rows": settings.CSV_UPLOAD_MAX_ROWS,
        "columns": settings.CSV_UPLOAD_MAX_COLUMNS,
        "line": settings.CSV_UPLOAD_MAX_LINE_BYTES,
    }


def _read(upload, size: int) -> bytes:
    upload.seek(0)
    data = upload.read(size)
    return data.encode() if isinstance(data, str) else data


def csv_upload_check(upload, *, max_bytes: int | None = None) -> None:
    """Raise ValidationError (one clear sentence) unless ``upload`` is a CSV text file within
    the limits; ``max_bytes`` lowers the size limit for one form. Leaves the file at its start."""
    limit = limits()
    max_bytes = min(max_bytes or limit["bytes"], limit["bytes"])
    size = upload.size or 0
    if size > max_bytes:
        raise ValidationError(
            f"The file is {filesizeformat(size)}; at most {filesizeformat(max_bytes)} can be "
            "uploaded. Split it into smaller files."
        )
    if size == 0:
        raise ValidationError("The file is empty.")
    try:
        head = _read(upload, SNIFF_BYTES)
        _check_kind(head)
        _check_header(head, limit["columns"])
        _check_lines(upload, limit["line"], limit["rows"])
    finally:
        upload.seek(0)


def _check_kind(head: bytes) -> None:
    for magic, what in NOT_CSV:
        if head.startswith(magic):
            raise ValidationError(f"This is not a CSV file; it is {what}.")
    if b"\x00" in head:
        raise ValidationError("This is not a CSV file; it is a binary file.")
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A character cut at the end of the sniffed block is still text.
        if exc.start < len(head) - 3:
            raise ValidationError(
                "The file is not UTF-8 text: save it as 'CSV UTF-8' and upload it again."
            ) from None


def _check_header(head: bytes, max_columns: int) -> None:
    text = head.decode("utf-8", errors="ignore").lstrip("\ufeff")
    first_line = text.split("\n", 1)[0]
    try:
        header = next(csv.reader(io.StringIO(first_line)), [])
    except csv.Error:
        header = first_line.split(",")
    if len(header) > max_columns:
        count = f"{len(header):,}" if "\n" in text else f"more than {len(header):,}"
        raise ValidationError(
            f"The header row has {count} columns; at most {max_columns:,} can be imported. "
            "Remove the columns you do not need."
        )


def _check_lines(upload, max_line: int, max_rows: int) -> None:
    """One pass over the bytes: the longest line and the number of lines."""
    upload.seek(0)
    lines, carried = 0, 0  # carried: length of the line still open at the block's end
    while block := _read_next(upload):
        ends = np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)
        if len(ends) == 0:
            carried += len(block)
        else:
            if carried + int(ends[0]) > max_line:
                _too_long(max_line, lines + 1)
            gaps = np.diff(ends) - 1  # the lengths of the lines between two newlines
            if len(gaps) and int(gaps.max()) > max_line:
                _too_long(max_line, lines + 2 + int(np.argmax(gaps > max_line)))
            carried = len(block) - int(ends[-1]) - 1
            lines += len(ends)
        if carried > max_line:
            _too_long(max_line, lines + 1)
        if lines > max_rows:
            raise ValidationError(
                f"The file has more than {max_rows:,} rows; split it into smaller files."
            )


def _read_next(upload) -> bytes:
    data = upload.read(BLOCK_BYTES)
    return data.encode() if isinstance(data, str) else data


def _too_long(max_line: int, line: int) -> None:
    raise ValidationError(
        f"Line {line:,} of the file is longer than {max_line:,} bytes; "
        "check that it is a CSV file with one record a line."
    )
