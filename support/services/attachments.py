"""Attachments: size and type limits checked by the file's content (its first bytes), never by
the name or the browser's claim, and stored through Django's storage."""

from django.conf import settings
from django.core.files.base import ContentFile

from crm.uploads import attachment_upload_check
from support.models import Attachment


def max_bytes() -> int:
    return getattr(settings, "SUPPORT_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024)


def max_files() -> int:
    return getattr(settings, "SUPPORT_ATTACHMENT_MAX_FILES", 5)


def attachment_check(*, name: str, upload) -> tuple[str, str]:
    """Validate one upload; returns (safe file name, content type) or raises ValidationError."""
    return attachment_upload_check(upload, name=name, max_bytes=max_bytes())


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
