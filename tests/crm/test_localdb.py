"""The embedded PostgreSQL of a checkout: started once for many processes, recovered after a
kill, and every setup problem told in one line with what to do."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from crm import localdb
from crm.localdb import EmbeddedDatabaseError, EmbeddedServer


def manage(var_dir: Path, *args: str) -> subprocess.CompletedProcess:
    """``manage.py`` in a fresh process with no DATABASE_URL and ``VAR_DIR=var_dir``."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    }
    env["VAR_DIR"] = str(var_dir)
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def server(tmp_path):
    server = EmbeddedServer(tmp_path / "var")
    yield server
    server.stop()


def test_a_killed_server_is_recovered_and_commands_share_one_server(server):
    # Given a server started by hand, a command finds it running and leaves it running
    assert server.ensure_running() is True
    pid = server.postmaster_pid()
    result = manage(server.var_dir, "shell", "-c", "from crm.models import User; print('ok')")
    assert result.returncode == 0, result.stderr
    assert server.postmaster_pid() == pid

    # When it is killed as by a crash (postmaster.pid and socket lock stay behind)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while server.is_running() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert (server.data_dir / "postmaster.pid").exists()

    # Then the next command starts it again, and, having started it, stops it when it exits
    result = manage(server.var_dir, "shell", "-c", "from crm.models import User; print('ok')")
    assert result.returncode == 0, result.stderr
    assert "ok" in result.stdout
    assert not server.is_running()


def test_a_pid_file_naming_another_program_is_stale(server):
    server.ensure_running()
    server.stop()
    # A pid file left by a killed server whose pid now belongs to another process (ours).
    (server.data_dir / "postmaster.pid").write_text(f"{os.getpid()}\n{server.data_dir}\n")
    assert not server.is_running()
    assert server.ensure_running() is True
    assert server.accepts_connections(localdb.DATABASE_NAME)


def test_var_not_writable_is_one_line_with_what_to_do(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = manage(blocker / "var", "migrate")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "is not writable" in lines[0] and "set VAR_DIR" in lines[0]
    assert "Traceback" not in result.stderr


def test_no_wheel_for_the_platform_says_to_set_database_url(tmp_path, monkeypatch):
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(EmbeddedDatabaseError, match="no wheel for this platform.*DATABASE_URL"):
        EmbeddedServer(tmp_path / "var").ensure_running()


def test_a_full_disk_is_refused_before_initdb(tmp_path, monkeypatch):
    class Usage:
        free = 10 * 1024 * 1024

    monkeypatch.setattr(localdb.shutil, "disk_usage", lambda path: Usage)
    with pytest.raises(EmbeddedDatabaseError, match="Not enough free disk space.*VAR_DIR"):
        EmbeddedServer(tmp_path / "var").ensure_running()
    assert not (tmp_path / "var" / "pgdata").exists()


def test_a_long_path_puts_the_socket_in_the_temporary_folder(tmp_path, monkeypatch):
    deep = tmp_path / ("x" * 60) / ("y" * 60)
    server = EmbeddedServer(deep)
    assert server.socket_dir.parent == Path(localdb.tempfile.gettempdir())
    assert len(str(server.socket_dir / ".s.PGSQL.5432")) <= localdb.MAX_SOCKET_PATH

    monkeypatch.setattr(localdb.tempfile, "gettempdir", lambda: str(deep))
    with pytest.raises(EmbeddedDatabaseError, match="socket path would be too long.*TMPDIR"):
        EmbeddedServer(deep)
