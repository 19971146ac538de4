"""What every test that starts a real Celery worker process shares: the command and a filesystem
broker of the worker's own (the folders base settings derive from ``VAR_DIR``, so the test's
publisher and the worker meet, and kombu's control folder stays inside it, not in the checkout)."""

import sys

WORKER_COMMAND = [
    sys.executable,
    "-m",
    "celery",
    "-A",
    "crm",
    "worker",
    "--pool=solo",
    "--concurrency=1",
    "-Q",
    "celery",
    "--without-heartbeat",
    "--without-gossip",
    "--without-mingle",
    "-l",
    "info",
]


def filesystem_broker(var_dir) -> dict:
    """Transport options of a filesystem broker under ``var_dir/broker`` (folders made)."""
    broker_dir = var_dir / "broker"
    for sub in ("in", "processed", "control"):
        (broker_dir / sub).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(broker_dir / "in"),
        "data_folder_out": str(broker_dir / "in"),
        "processed_folder": str(broker_dir / "processed"),
        "store_processed": False,
        "control_folder": str(broker_dir / "control"),
    }
