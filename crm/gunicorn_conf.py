"""Gunicorn hooks (``gunicorn -c python:crm.gunicorn_conf``) for Prometheus's multi-process mode.

With ``PROMETHEUS_MULTIPROC_DIR`` set, every gunicorn worker writes its request counters to files
in that folder and ``/metrics`` adds them up (``crm.metrics``). The folder is emptied when the
server starts (counts of an earlier run would add up wrongly), and a worker that exits is marked
dead so its live gauges are dropped (its counters stay counted)."""

import os
from pathlib import Path


def on_starting(server):
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")
    if not folder:
        return
    path = Path(folder)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):
        stale.unlink()


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR", ""):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
