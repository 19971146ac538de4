"""Logging for every process (web, worker, beat, commands), set by two settings:

- ``LOG_FORMAT``: ``text`` (the default, for a terminal) or ``json``: one JSON object per line,
  with ``time`` (ISO 8601, UTC), ``level``, ``logger``, ``message``, ``request_id``, ``user_id``
  and ``path`` (``crm.requestid``), and whatever a line adds (``status``, ``duration_ms``,
  ``view``, ``method`` for the request lines, ``exc_info`` for a traceback);
- ``LOG_LEVEL``: the root level (``INFO`` by default).

JSON lines come from python-json-logger (``pythonjsonlogger.json.JsonFormatter``), a maintained
formatter on the standard ``logging`` module, so every library's records are formatted alike.
"""

import logging

from pythonjsonlogger.json import JsonFormatter

FORMATS = ("text", "json")


class TextFormatter(logging.Formatter):
    """``time level logger [request id] message`` (the id only within a request or its task)."""

    def __init__(self):
        super().__init__("%(asctime)s %(levelname)s %(name)s%(context)s %(message)s")

    def format(self, record):
        request_id = getattr(record, "request_id", None)
        record.context = f" [{request_id}]" if request_id else ""
        return super().format(record)


class JsonLineFormatter(JsonFormatter):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        kwargs.setdefault("timestamp", "time")
        kwargs.setdefault("json_ensure_ascii", False)
        super().__init__(["levelname", "name", "message"], *args, **kwargs)

    def add_fields(self, log_data, record, message_dict):
        super().add_fields(log_data, record, message_dict)
        for key in ("request_id", "user_id", "path"):
            log_data.setdefault(key, getattr(record, key, None))
        # Celery's task records carry these; keep the line small and stable.
        log_data.pop("color_message", None)


def logging_config(log_format: str = "text", level: str = "INFO") -> dict:
    """The ``LOGGING`` setting: one handler on stderr, the request context on every record."""
    if log_format not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be one of {', '.join(FORMATS)}, not {log_format!r}")
    formatter = (
        {"()": "crm.logs.JsonLineFormatter"}
        if log_format == "json"
        else {"()": "crm.logs.TextFormatter"}
    )
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_context": {"()": "crm.requestid.RequestContextFilter"}},
        "formatters": {"main": formatter},
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "main",
                "filters": ["request_context"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {
            # Django's own console handlers would print a second copy: everything goes to root.
            "django": {"handlers": [], "level": level, "propagate": True},
            "django.server": {"handlers": [], "level": level, "propagate": True},
        },
    }
