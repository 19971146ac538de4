"""Connections to a user's mail server: IMAP to read, SMTP to check the login.

Every failure becomes one of two errors with a message the user can act on: ``MailAuthError``
(the server refused the login: the mailbox needs the user's attention, retrying will not help)
and ``MailNetworkError`` (the server could not be reached, timed out or broke the connection:
the sync tries again later). Each step waits at most ``MAIL_TIMEOUT_SECONDS``.

A mailbox names any host, and the connection leaves from our servers: unless
``MAIL_ALLOW_PRIVATE_HOSTS`` is on, a host resolving to a loopback, private, link-local or
otherwise non-public address is refused, so a mailbox cannot point the CRM at the database or the
cache.
"""

import base64
import contextlib
import imaplib
import ipaddress
import smtplib
import socket
import ssl

from django.conf import settings

from crm.choices import MailSecurity


class MailConnectError(Exception):
    """A connection to the mail server failed; ``str()`` is the user's explanation."""


class MailAuthError(MailConnectError):
    """The server refused the credentials (or the OAuth2 grant was revoked)."""


class MailNetworkError(MailConnectError):
    """The server was unreachable, slow, or broke the connection: worth another try later."""


def tls_context() -> ssl.SSLContext:
    """The system's trusted CAs, plus ``MAIL_TLS_CA_FILE`` for in-house certificates."""
    context = ssl.create_default_context()
    if settings.MAIL_TLS_CA_FILE:
        context.load_verify_locations(cafile=settings.MAIL_TLS_CA_FILE)
    return context


def host_check(host: str, port: int) -> None:
    """Refuse a host that resolves to a non-public address (unless allowed); see the module."""
    if not host:
        raise MailConnectError("No server name is set.")
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise MailNetworkError(f"The server name {host} could not be resolved.") from error
    if settings.MAIL_ALLOW_PRIVATE_HOSTS:
        return
    for info in infos:
        ip = ipaddress.ip_address(info[4][0])
        if not ip.is_global:
            raise MailConnectError(
                f"{host} is an address on the server's own network ({ip}); mail servers must "
                "be public (an administrator may allow private ones: MAIL_ALLOW_PRIVATE_HOSTS)."
            )


def xoauth2_string(user: str, access_token: str) -> str:
    """The SASL XOAUTH2 initial response (Google's and Microsoft's IMAP and SMTP)."""
    return f"user={user}\x01auth=Bearer {access_token}\x01\x01"


def _access_token(mailbox) -> str:
    from crm.mail.oauth import oauth_access_token

    return oauth_access_token(mailbox=mailbox)


def _network_error(what: str, host: str, port: int, error: Exception) -> MailNetworkError:
    if isinstance(error, TimeoutError | socket.timeout):
        reason = f"no answer within {settings.MAIL_TIMEOUT_SECONDS:g} seconds"
    elif isinstance(error, ssl.SSLCertVerificationError):
        reason = f"its certificate is not trusted ({error.verify_message})"
    elif isinstance(error, ssl.SSLError):
        reason = f"the TLS handshake failed ({error.reason or error})"
    elif isinstance(error, ConnectionRefusedError):
        reason = "the connection was refused (is the port right?)"
    else:
        reason = str(error) or error.__class__.__name__
    return MailNetworkError(f"Could not talk to the {what} server {host}:{port}: {reason}.")


def _imap_client(mailbox) -> imaplib.IMAP4:
    host, port, timeout = mailbox.imap_host, mailbox.imap_port, settings.MAIL_TIMEOUT_SECONDS
    host_check(host, port)
    try:
        if mailbox.imap_security == MailSecurity.SSL:
            return imaplib.IMAP4_SSL(host, port, ssl_context=tls_context(), timeout=timeout)
        imap = imaplib.IMAP4(host, port, timeout=timeout)
        if mailbox.imap_security == MailSecurity.STARTTLS:
            imap.starttls(ssl_context=tls_context())
        return imap
    except (OSError, imaplib.IMAP4.error) as error:
        raise _network_error("IMAP", host, port, error) from error


def imap_open(mailbox) -> imaplib.IMAP4:
    """A signed-in IMAP connection to the mailbox (password or XOAUTH2); the caller logs out."""
    imap = _imap_client(mailbox)
    try:
        if mailbox.uses_oauth:
            token = _access_token(mailbox)
            sasl = xoauth2_string(mailbox.imap_username or mailbox.email_address, token)
            imap.authenticate("XOAUTH2", lambda _challenge: sasl.encode())
        else:
            imap.login(mailbox.imap_username or mailbox.email_address, mailbox.imap_password or "")
    except imaplib.IMAP4.abort as error:
        imap_close(imap)
        raise _network_error("IMAP", mailbox.imap_host, mailbox.imap_port, error) from error
    except imaplib.IMAP4.error as error:
        imap_close(imap)
        detail = _server_text(error)
        raise MailAuthError(
            f"The IMAP server refused the sign-in{f' ({detail})' if detail else ''}: check the "
            "user name and password."
            if not mailbox.uses_oauth
            else f"The IMAP server refused the OAuth2 sign-in{f' ({detail})' if detail else ''}"
            ": connect the mailbox again."
        ) from error
    except OSError as error:
        imap_close(imap)
        raise _network_error("IMAP", mailbox.imap_host, mailbox.imap_port, error) from error
    except MailConnectError:
        imap_close(imap)
        raise
    return imap


def imap_close(imap: imaplib.IMAP4) -> None:
    with contextlib.suppress(OSError, imaplib.IMAP4.error):
        imap.logout()


def _server_text(error: Exception) -> str:
    text = str(error.args[0] if error.args else error)
    if text.startswith("b'") or text.startswith('b"'):
        text = text[2:-1]
    return text.strip()[:200]


def imap_folders(imap: imaplib.IMAP4) -> list[tuple[str, set[str]]]:
    """Every folder of the signed-in mailbox, with its attributes (``\\Sent``, ``\\Noselect``)."""
    typ, lines = imap.list()
    if typ != "OK":
        return []
    folders = []
    for line in lines:
        if not line:
            continue
        if isinstance(line, tuple):  # a literal name: (b'(\\attrs) "/" {5}', b'Name')
            head, name = line[0].decode(errors="replace"), line[1].decode(errors="replace")
            attrs = head[head.find("(") + 1 : head.find(")")]
        else:
            text = line.decode(errors="replace")
            attrs = text[text.find("(") + 1 : text.find(")")]
            rest = text[text.find(")") + 1 :].strip()
            # rest: <delimiter or NIL> <name>, each possibly quoted
            if rest.startswith('"'):
                rest = rest[rest.find('"', 1) + 1 :].strip()
            else:
                rest = rest.split(" ", 1)[1] if " " in rest else ""
            name = rest
            if name.startswith('"') and name.endswith('"'):
                name = name[1:-1].replace('\\"', '"').replace("\\\\", "\\")
        folders.append((name, {a.lower() for a in attrs.split()}))
    return folders


def sent_folder(folders: list[tuple[str, set[str]]]) -> str | None:
    """The folder the server marks ``\\Sent`` (SPECIAL-USE), else one named "Sent"."""
    for name, attrs in folders:
        if "\\sent" in attrs:
            return name
    for name, _ in folders:
        if name.lower() in ("sent", "sent items", "sent messages", "inbox.sent"):
            return name
    return None


def imap_quote(name: str) -> str:
    """A folder name as an IMAP astring (quoted, so spaces and specials pass)."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def smtp_check(mailbox) -> str:
    """Connect to the SMTP server, EHLO and sign in, then quit; returns the server's greeting
    name. Sends nothing."""
    host, port, timeout = mailbox.smtp_host, mailbox.smtp_port, settings.MAIL_TIMEOUT_SECONDS
    host_check(host, port)
    try:
        if mailbox.smtp_security == MailSecurity.SSL:
            smtp = smtplib.SMTP_SSL(host, port, timeout=timeout, context=tls_context())
        else:
            smtp = smtplib.SMTP(host, port, timeout=timeout)
    except (OSError, smtplib.SMTPException) as error:
        raise _network_error("SMTP", host, port, error) from error
    try:
        smtp.ehlo()
        if mailbox.smtp_security == MailSecurity.STARTTLS:
            smtp.starttls(context=tls_context())
            smtp.ehlo()
        user = mailbox.smtp_username or mailbox.imap_username or mailbox.email_address
        if mailbox.uses_oauth:
            sasl = xoauth2_string(user, _access_token(mailbox))
            code, reply = smtp.docmd("AUTH", "XOAUTH2 " + base64.b64encode(sasl.encode()).decode())
            if code != 235:
                raise smtplib.SMTPAuthenticationError(code, reply)
        elif mailbox.smtp_password or mailbox.imap_password:
            smtp.login(user, mailbox.smtp_password or mailbox.imap_password)
        return smtp.ehlo_resp.decode(errors="replace").split("\n")[0] if smtp.ehlo_resp else ""
    except smtplib.SMTPAuthenticationError as error:
        detail = error.smtp_error.decode(errors="replace") if error.smtp_error else ""
        advice = (
            "connect the mailbox again."
            if mailbox.uses_oauth
            else "check the user name and password."
        )
        raise MailAuthError(
            f"The SMTP server refused the sign-in ({error.smtp_code} {detail}".rstrip()
            + f"): {advice}"
        ) from error
    except smtplib.SMTPNotSupportedError as error:
        raise MailConnectError(
            f"The SMTP server does not offer what is needed: {error}. Check the security setting."
        ) from error
    except (OSError, smtplib.SMTPException) as error:
        raise _network_error("SMTP", host, port, error) from error
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()
