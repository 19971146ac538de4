"""Every CSV file the product writes goes through here: exports, error reports, templates.

Each cell is formula-safe (OWASP "CSV injection"): text that starts with ``=``, ``+``, ``-``,
``@``, a tab or a carriage return gets a leading apostrophe, so a spreadsheet shows it as text
instead of running it. Numbers the product computes (int, float, Decimal) stay numbers: a
negative amount is data and cannot carry a formula. Files are UTF-8 with a byte order mark (so
Excel reads accents right) and served as ``text/csv; charset=utf-8``, streamed row by row."""

import csv
import re
from collections.abc import Iterable, Iterator
from decimal import Decimal

from django.http import HttpResponse, StreamingHttpResponse

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
BOM = "\ufeff"
CONTENT_TYPE = "text/csv; charset=utf-8"


def formula_safe(value) -> str:
    """``value`` as a cell a spreadsheet will not run as a formula."""
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    text = str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


class _Line:
    """A file-like sink that hands back what ``csv.writer`` writes (one line at a time)."""

    def write(self, value):
        return value


def csv_lines(rows: Iterable[Iterable]) -> Iterator[str]:
    """The file as text lines: the byte order mark first, then each row with every cell
    formula-safe."""
    writer = csv.writer(_Line())
    yield BOM
    for row in rows:
        yield writer.writerow([formula_safe(cell) for cell in row])


def row_text(cells: Iterable) -> str:
    """One row as CSV text, cells as they were read (for keeping a row, as the import's error
    report does; it is made formula-safe when written to a file)."""
    return csv.writer(_Line()).writerow([str(cell) for cell in cells]).rstrip("\r\n")


def csv_response(
    rows: Iterable[Iterable], *, filename: str, stream: bool = True
) -> HttpResponse | StreamingHttpResponse:
    """A download of ``rows`` (the header first) as ``filename``: streamed, or with ``stream``
    false, whole (for rows already in memory)."""
    if stream:
        response = StreamingHttpResponse(csv_lines(rows), content_type=CONTENT_TYPE)
    else:
        response = HttpResponse("".join(csv_lines(rows)), content_type=CONTENT_TYPE)
    safe_name = re.sub(r"[^A-Za-z0-9._-]+", "-", filename).strip("-") or "export.csv"
    response["Content-Disposition"] = f'attachment; filename="{safe_name}"'
    response["X-Content-Type-Options"] = "nosniff"
    return response
