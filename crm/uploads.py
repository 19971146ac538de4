"""Checks every CSV upload passes before anything keeps or parses it: its size, what it really
is (its first bytes, not its name), its columns, line lengths and rows.

The checks answer in well under a second whatever is uploaded: the size comes from the upload's
metadata without reading; the type and header from the first ``SNIFF_BYTES``; lines and rows
from one pass over the bytes in blocks, with newline positions found by numpy. A file that
would stall a worker (a 100,000-column header, one endless line, a ZIP renamed .csv) never
reaches the worker. Limits are settings (``CSV_UPLOAD_MAX_*``, README "Configuration")."""

import csv
import io
import logging
import os

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.template.defaultfilters import filesizeformat

logger = logging.getLogger(__name__)

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


XLSX_MAGIC = b"PK\x03\x04"


def is_xlsx_upload(upload) -> bool:
    """Whether the upload starts like a ZIP archive (what an XLSX file is)."""
    head = _read(upload, 4)
    upload.seek(0)
    return head == XLSX_MAGIC


def xlsx_upload_check(upload) -> None:
    """Raise ValidationError (one clear sentence) unless ``upload`` is an Excel workbook within
    the limits: a real ZIP archive holding ``xl/workbook.xml``, at most ``XLSX_UPLOAD_MAX_BYTES``
    and unpacking to at most ``XLSX_UPLOAD_MAX_UNPACKED_BYTES`` (a small file may unpack to
    gigabytes), its first sheet within the CSV row and column limits. Leaves the file at its
    start."""
    import zipfile

    from openpyxl import load_workbook

    max_bytes = settings.XLSX_UPLOAD_MAX_BYTES
    size = upload.size or 0
    if size > max_bytes:
        raise ValidationError(
            f"The file is {filesizeformat(size)}; at most {filesizeformat(max_bytes)} of Excel "
            "can be uploaded. Split it, or save it as CSV (up to "
            f"{filesizeformat(settings.CSV_UPLOAD_MAX_BYTES)})."
        )
    if size == 0:
        raise ValidationError("The file is empty.")
    not_a_workbook = ValidationError(
        "This is not an Excel workbook (.xlsx): it is a ZIP archive without a workbook in it."
    )
    try:
        upload.seek(0)
        with zipfile.ZipFile(upload) as archive:
            names = set(archive.namelist())
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError):
        raise ValidationError(
            "This is not an Excel workbook (.xlsx): the file is damaged or not a ZIP archive."
        ) from None
    finally:
        upload.seek(0)
    if "xl/workbook.xml" not in names:
        raise not_a_workbook
    if unpacked > settings.XLSX_UPLOAD_MAX_UNPACKED_BYTES:
        raise ValidationError(
            f"The workbook unpacks to {filesizeformat(unpacked)}; at most "
            f"{filesizeformat(settings.XLSX_UPLOAD_MAX_UNPACKED_BYTES)} can be read. "
            "Split it into smaller files."
        )
    limit = limits()
    try:
        book = load_workbook(upload, read_only=True, data_only=True)
        try:
            sheet = book.worksheets[0] if book.worksheets else None
            rows = (sheet.max_row or 0) if sheet is not None else 0
            columns = (sheet.max_column or 0) if sheet is not None else 0
        finally:
            book.close()
    except Exception:  # openpyxl raises many kinds on a malformed workbook
        raise ValidationError(
            "This Excel workbook cannot be read: open it in Excel and save it again, or save "
            "it as CSV."
        ) from None
    finally:
        upload.seek(0)
    if rows == 0:
        raise ValidationError("The workbook's first sheet is empty.")
    if rows > limit["rows"]:
        raise ValidationError(
            f"The sheet has {rows:,} rows; at most {limit['rows']:,} can be imported. "
            "Split it into smaller files."
        )
    if columns > limit["columns"]:
        raise ValidationError(
            f"The sheet has {columns:,} columns; at most {limit['columns']:,} can be imported. "
            "Remove the columns you do not need."
        )


def table_upload_check(upload) -> str:
    """Check a CSV or XLSX upload by its content (not its name); returns ``csv`` or ``xlsx``."""
    if is_xlsx_upload(upload):
        xlsx_upload_check(upload)
        return "xlsx"
    csv_upload_check(upload)
    return "csv"


def files_delete(files) -> None:
    """Delete stored files, ``(storage, name)`` pairs, on whatever storage holds them (the
    local disk or the S3 bucket). A file already gone is no error; a storage that does not
    answer leaves the file behind, logged, rather than failing the work that dropped its row."""
    for storage, name in files:
        try:
            storage.delete(name)
        except FileNotFoundError:
            pass
        except Exception:  # OSError on disk, botocore's errors on S3
            logger.warning("stored file %s not deleted", name, exc_info=True)


def files_delete_on_commit(files) -> None:
    """Delete stored files, ``(storage, name)`` pairs, once the transaction that dropped their
    rows commits (a rollback keeps them)."""
    files = list(files)
    if files:
        transaction.on_commit(lambda: files_delete(files))


# --- attachments: files people attach to a ticket or an email ---------------------------------

#: (content type, extension, leading bytes) of the binary formats accepted as attachments.
ATTACHMENT_SIGNATURES = (
    ("image/png", ".png", (b"\x89PNG\r\n\x1a\n",)),
    ("image/jpeg", ".jpg", (b"\xff\xd8\xff",)),
    ("image/gif", ".gif", (b"GIF87a", b"GIF89a")),
    ("application/pdf", ".pdf", (b"%PDF-",)),
)
ATTACHMENT_SNIFF_BYTES = 8192


def sniff_content_type(head: bytes) -> tuple[str, str] | None:
    """(content type, extension) of an allowed attachment format judged by its first bytes
    (PNG, JPEG, GIF, PDF, or UTF-8 text), else None."""
    for content_type, extension, magics in ATTACHMENT_SIGNATURES:
        if any(head.startswith(magic) for magic in magics):
            return content_type, extension
    if head and b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            # A multi-byte character cut at the end of the sniffed block is still text.
            if exc.start < len(head) - 3:
                return None
        return "text/plain", ".txt"
    return None


def attachment_upload_check(upload, *, name: str, max_bytes: int) -> tuple[str, str]:
    """(safe file name, content type) of one attached file, judged by its size and its first
    bytes, never by its name or the browser's claim; else raises ValidationError."""
    size = upload.size
    if size > max_bytes:
        raise ValidationError(
            f"“{name}” is {size // 1024} KB; the limit is {max_bytes // 1024} KB.",
            code="too_big",
        )
    if size == 0:
        raise ValidationError(f"“{name}” is empty.", code="empty")
    if hasattr(upload, "seek"):
        upload.seek(0)
    kind = sniff_content_type(upload.read(ATTACHMENT_SNIFF_BYTES))
    if hasattr(upload, "seek"):
        upload.seek(0)
    if kind is None:
        raise ValidationError(
            f"“{name}” is not an allowed file type (PNG, JPEG, GIF, PDF or plain text).",
            code="file_type",
        )
    content_type, extension = kind
    stem = os.path.splitext(os.path.basename(name or "file"))[0][:100] or "file"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)
    return safe + extension, content_type
