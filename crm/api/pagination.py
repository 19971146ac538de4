from rest_framework.pagination import CursorPagination


class IdCursorPagination(CursorPagination):
    """Cursor pages in key order (newest first unless ``?ordering=`` names another indexed
    field): stable while rows are added, and as fast on the last page as on the first."""

    ordering = "-id"
    page_size_query_param = "page_size"
    max_page_size = 200
