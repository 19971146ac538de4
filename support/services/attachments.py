"""Attachments: size and type limits checked by the file's content (its first bytes), never by
the name or the browser's claim, and stored through Django's storage."""

import os

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile

from support.models import Attachment

#: (content type, extension, leading bytes) of the binary formats we accept.
SIGNATURES = (
    ("image/png", ".png", (b"\x89PNG\r\n\x1a\n",)),
    ("image/jpeg", ".jpg", (b"\xff\xd8\xff",)),
    ("image/gif", ".gif", (b"GIF87a", b"GIF89a")),
    ("application/pdf", ".pdf", (b"%PDF-",)),
)
TEXT = ("text/plain", ".txt")
SNIFF_BYTES = 8192


def max_bytes() -> int:
    return getattr(settings, "SUPPORT_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)


def max_files() -> int:
    return getattr(settings, "SUPPORT_ATTACHMENT_MAX_FILES", 5)


def sniff_content_type(head: bytes) -> tuple[str, str] | None:
    """(content type, extension) of an allowed format judged by the first bytes, else None."""
    for content_type, extension, magics in SIGNATURES:
        if any(head.startswith(magic) for magic in magics):
            return content_type, extension
    if head and b"\x00" not in head:
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            # A multi-byte character cut at the end of the sniffed block is still text.
            if exc.start < len(head) - 3:
                return None
        return TEXT
    return None


def _read_head(upload) -> bytes:
    if hasattr(upload, "seek"):
        upload.seek(0)
    head = upload.read(SNIFF_BYTES)
    if hasattr(upload, "seek"):
        upload.seek(0)
    return head


def attachment_check(*, name: str, upload) -> tuple[str, str]:
    """Validate one upload; returns (safe file name, content type) or raises ValidationError."""
    size = upload.size
    if size > max_bytes():
        raise ValidationError(
            f"“{name}” is {size // 1024} KB; the limit is {max_bytes() // 1024} KB.",
            code="too_big",
        )
    if size == 0:
        raise ValidationError(f"“{name}” is empty.", code="empty")
    kind = sniff_content_type(_read_head(upload))
    if kind is None:
        raise ValidationError(
            f"“{name}” is not an allowed file type (PNG, JPEG, GIF, PDF or plain text).",
            code="file_type",
        )
    content_type, extension = kind
    stem = os.path.splitext(os.path.basename(name or "file"))[0][:100] or "file"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)
    return safe + extension, content_type


def attachment_store(*, ticket, upload, message=None, name: str | None = None) -> Attachment:
    """Check and save one uploaded file (a Django ``UploadedFile`` or ``ContentFile``)."""
    name = name or getattr(upload, "name", "") or "file"
    filename, content_type = attachment_check(name=name, upload=upload)
    attachment = Attachment(
        ticket=ticket,
        message=message,
        filename=filename,
        content_type=content_type,
        size=upload.size,
    )
    attachment.file.save(filename, upload, save=False)
    attachment.save()
    return attachment


def content_file(data: bytes, name: str) -> ContentFile:
    return ContentFile(data, name=name)
