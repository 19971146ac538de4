"""A real IMAP server for tests: Debian's dovecot, started as a child process of the test run.

The ``mailserver`` fixture (session-wide, loaded by ``tests/conftest.py``) writes a dovecot
configuration into a temporary folder and runs ``dovecot -F`` on it: IMAP on a free port of
127.0.0.1 with plaintext logins allowed, IMAPS on another with a self-signed certificate made by
the fixture (``mailserver.ca_file`` trusts it), users in a passwd-file, maildirs under the same
folder, and its own base, state and log paths, so no system service or file is touched. Run as
root it runs its processes as ``nobody`` (dovecot refuses root for logins and mail); otherwise as
the current user. Access tokens registered with ``add_token`` are accepted by ``AUTHENTICATE
XOAUTH2`` through dovecot's ``oauth2`` passdb, which asks a small introspection endpoint the
fixture serves. Beside it, an SMTP server (aiosmtpd, on ``smtp_port``) signs in the same users
with AUTH PLAIN/LOGIN, and the tokens with AUTH XOAUTH2, and accepts their mail (``sent``). A test makes a user of its own (``add_user``), so tests share one server and
never see each other's mail::

    user = mailserver.add_user()
    uid = mailserver.append(user, message_bytes(...), flags=("$Private",))

Tests are skipped, saying why, where dovecot is not installed (``apt-get install dovecot-imapd``).
"""

import base64
import email.utils
import imaplib
import itertools
import json
import logging
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

import pytest

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"
HOST = "127.0.0.1"
#: The folder the fixture's server marks \Sent (SPECIAL-USE): not named "Sent", so a client
#: that finds it proves it read the attribute.
SENT_FOLDER = "Sent Items"
START_SECONDS = 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def message_bytes(
    *,
    sender: str = "Ada Customer <ada@example.com>",
    to: str = "rep@example.org",
    subject: str = "Hello",
    body: str = "Hello there.",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    date: datetime | None = None,
) -> bytes:
    """A small RFC 5322 message."""
    headers = [
        f"From: {sender}",
        f"To: {to}",
        f"Subject: {subject}",
        f"Date: {email.utils.format_datetime(date) if date else email.utils.formatdate()}",
        f"Message-ID: {message_id or email.utils.make_msgid(domain='example.com')}",
    ]
    if in_reply_to:
        headers += [f"In-Reply-To: {in_reply_to}", f"References: {in_reply_to}"]
    headers += ["MIME-Version: 1.0", "Content-Type: text/plain; charset=utf-8"]
    return ("\r\n".join(headers) + "\r\n\r\n" + body + "\r\n").encode()


class _Introspection(BaseHTTPRequestHandler):
    """RFC 7662 token introspection for dovecot's oauth2 passdb: POST token=... answers whether
    it is a live token and whose."""

    tokens: dict[str, str] = {}

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        token = parse_qs(self.rfile.read(length).decode()).get("token", [""])[0]
        user = self.tokens.get(token)
        body = json.dumps({"active": True, "email": user} if user else {"active": False})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


class MailServer:
    """One running dovecot; see the module's docstring."""

    host = HOST

    def __init__(self, root: Path):
        self.root = root
        self.imap_port = free_port()
        self.imaps_port = free_port()
        self.passwords: dict[str, str] = {}
        self._names = itertools.count(1)
        self._process: subprocess.Popen | None = None
        self._introspection: ThreadingHTTPServer | None = None
        self.tokens: dict[str, str] = {}
        self.sent: list[bytes] = []
        self._smtp = None

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> "MailServer":
        for sub in ("base", "state", "mail"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        # Dovecot's helpers (auth, login, mail) run as this user: nobody when we are root.
        if os.geteuid() == 0:
            user = pwd.getpwnam("nobody")
            self.run_as = (user.pw_name, user.pw_uid, user.pw_gid)
            os.chown(self.root / "mail", user.pw_uid, user.pw_gid)
        else:
            user = pwd.getpwuid(os.geteuid())
            self.run_as = (user.pw_name, user.pw_uid, user.pw_gid)
        os.chmod(self.root, 0o755)
        self._make_certificate()
        self._start_introspection()
        self._start_smtp()
        (self.root / "users").mkdir()
        os.chmod(self.root / "users", 0o755)
        (self.root / "dovecot.conf").write_text(self._config())
        self._process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(self.root / "dovecot.conf")],
            stdout=subprocess.DEVNULL,
            stderr=open(self.root / "stderr.log", "wb"),  # noqa: SIM115 - the child holds it
        )
        deadline = time.monotonic() + START_SECONDS
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"dovecot exited at start:\n{self.log()}")
            try:
                socket.create_connection((HOST, self.imap_port), timeout=1).close()
                return self
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"dovecot did not listen within {START_SECONDS}s:\n{self.log()}")

    def stop(self) -> None:
        if self._process and self._process.poll() is None:
            self._process.send_signal(signal.SIGTERM)
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._introspection:
            self._introspection.shutdown()
            self._introspection.server_close()
        if self._smtp:
            self._smtp.stop()

    def log(self) -> str:
        parts = []
        for name in ("stderr.log", "dovecot.log"):
            path = self.root / name
            if path.exists():
                parts.append(path.read_text(errors="replace")[-4000:])
        return "\n".join(parts)

    def _make_certificate(self) -> None:
        subprocess.run(
            [
                "openssl",
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-days",
                "2",
                "-subj",
                "/CN=localhost",
                "-addext",
                f"subjectAltName=DNS:localhost,IP:{HOST}",
                "-keyout",
                str(self.root / "key.pem"),
                "-out",
                str(self.root / "cert.pem"),
            ],
            check=True,
            capture_output=True,
        )
        os.chmod(self.root / "key.pem", 0o644)

    @property
    def ca_file(self) -> str:
        """The self-signed certificate of the IMAPS port, to trust in a client."""
        return str(self.root / "cert.pem")

    def _start_introspection(self) -> None:
        handler = type("Introspection", (_Introspection,), {"tokens": self.tokens})
        self._introspection = ThreadingHTTPServer((HOST, 0), handler)
        threading.Thread(target=self._introspection.serve_forever, daemon=True).start()
        port = self._introspection.server_address[1]
        (self.root / "oauth2.conf").write_text(
            f"introspection_mode = post\n"
            f"introspection_url = http://{HOST}:{port}/introspect\n"
            "force_introspection = yes\n"
            "username_attribute = email\n"
            "username_format = %u\n"
            "active_attribute = active\n"
            "active_value = true\n"
        )
        os.chmod(self.root / "oauth2.conf", 0o644)

    def _start_smtp(self) -> None:
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult, LoginPassword

        server = self

        class Handler:
            async def handle_DATA(self, smtp, session, envelope):
                server.sent.append(envelope.content)
                return "250 OK"

            async def auth_XOAUTH2(self, smtp, args):
                """SASL XOAUTH2 with the initial response: user=...^Aauth=Bearer ...^A^A."""
                try:
                    fields = dict(
                        part.split("=", 1)
                        for part in base64.b64decode(args[1]).decode().split("\x01")
                        if "=" in part
                    )
                except (IndexError, ValueError):
                    return AuthResult(success=False, handled=False)
                token = fields.get("auth", "").removeprefix("Bearer ")
                user = fields.get("user", "")
                ok = bool(user) and server.tokens.get(token) == user
                return AuthResult(
                    success=ok, handled=False, auth_data=LoginPassword(user.encode(), b"")
                )

        def authenticator(smtp, session, envelope, mechanism, auth_data):
            ok = (
                isinstance(auth_data, LoginPassword)
                and server.passwords.get(auth_data.login.decode()) == auth_data.password.decode()
            )
            return AuthResult(success=ok, handled=False)

        self.smtp_port = free_port()
        logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd's per-command lines
        self._smtp = Controller(
            Handler(),
            hostname=HOST,
            port=self.smtp_port,
            authenticator=authenticator,
            auth_require_tls=False,
        )
        self._smtp.start()

    def _config(self) -> str:
        name, _, _ = self.run_as
        group = _group_name(self.run_as[2])
        root = self.root
        return f"""
protocols = imap
listen = {HOST}
base_dir = {root}/base
state_dir = {root}/state
log_path = {root}/dovecot.log
info_log_path = {root}/dovecot.log
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2 oauthbearer
default_internal_user = {name}
default_internal_group = {group}
default_login_user = {name}
first_valid_uid = 1
mail_uid = {name}
mail_gid = {group}
mail_location = maildir:{root}/mail/%u
namespace inbox {{
  inbox = yes
  separator = /
  mailbox "{SENT_FOLDER}" {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
}}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/users/%u
}}
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {root}/oauth2.conf
}}
userdb {{
  driver = static
  args = uid={name} gid={group} home={root}/mail/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = {HOST}
    port = {self.imap_port}
  }}
  inet_listener imaps {{
    address = {HOST}
    port = {self.imaps_port}
    ssl = yes
  }}
}}
service anvil {{
  chroot =
}}
service auth {{
  user = {name}
}}
"""

    # --- users and mail ----------------------------------------------------------------------

    def add_user(self, name: str | None = None, password: str | None = None) -> str:
        """A new mail user; returns its name."""
        name = name or f"user{next(self._names)}@example.org"
        password = password or f"pw-{next(self._names)}"
        self.passwords[name] = password
        # One passwd-file per user: a new user is a new file, read fresh by dovecot.
        path = self.root / "users" / name
        path.write_text(f"{name}:{{PLAIN}}{password}\n")
        os.chmod(path, 0o644)
        return name

    def add_token(self, user: str, token: str) -> None:
        """Let ``token`` sign ``user`` in by XOAUTH2 / OAUTHBEARER."""
        self.tokens[token] = user

    def connect(self, user: str) -> imaplib.IMAP4:
        imap = imaplib.IMAP4(HOST, self.imap_port, timeout=10)
        imap.login(user, self.passwords[user])
        return imap

    def append(
        self,
        user: str,
        raw: bytes,
        *,
        folder: str = "INBOX",
        flags: tuple[str, ...] = (),
        when: datetime | None = None,
    ) -> int:
        """Store one message (with flags and keywords) in ``folder``; returns its UID."""
        return self.append_many(user, [raw], folder=folder, flags=flags, when=when)[0]

    def append_many(
        self,
        user: str,
        messages: list[bytes],
        *,
        folder: str = "INBOX",
        flags: tuple[str, ...] = (),
        when: datetime | None = None,
    ) -> list[int]:
        imap = self.connect(user)
        try:
            if folder not in self.folders(user, imap=imap):
                imap.create(_quoted(folder))
            uids = []
            stamp = imaplib.Time2Internaldate(when or time.time())
            flag_list = f"({' '.join(flags)})" if flags else None
            for raw in messages:
                typ, data = imap.append(_quoted(folder), flag_list, stamp, raw)
                assert typ == "OK", data
                # "[APPENDUID <uidvalidity> <uid>] Append completed"
                uids.append(int(data[0].split(b"]")[0].split()[-1]))
            return uids
        finally:
            imap.logout()

    def folders(self, user: str, *, imap: imaplib.IMAP4 | None = None) -> list[str]:
        own = imap is None
        imap = imap or self.connect(user)
        try:
            _, lines = imap.list()
            names = []
            for line in lines:
                name = line.decode().rsplit(' "/" ', 1)[-1]
                names.append(name[1:-1] if name.startswith('"') else name)
            return names
        finally:
            if own:
                imap.logout()

    def flags(self, user: str, uid: int, *, folder: str = "INBOX") -> str:
        """The flags of one message, as the server answers them (to check nothing set \\Seen)."""
        imap = self.connect(user)
        try:
            imap.select(_quoted(folder), readonly=True)
            _, data = imap.uid("FETCH", str(uid), "(FLAGS)")
            return data[0].decode()
        finally:
            imap.logout()


def _quoted(name: str) -> str:
    return f'"{name}"' if " " in name else name


def _group_name(gid: int) -> str:
    import grp

    return grp.getgrgid(gid).gr_name


@pytest.fixture(scope="session")
def mailserver():
    """A running dovecot for the whole test session (see the module's docstring)."""
    if not os.path.exists(DOVECOT):
        pytest.skip("dovecot is not installed (apt-get install dovecot-imapd)")
    root = Path(tempfile.mkdtemp(prefix="crm-dovecot-"))
    server = MailServer(root)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
