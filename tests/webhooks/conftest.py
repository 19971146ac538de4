import pytest

from crm.webhooks import targets
from tests.webhooks.receiver import Receiver


@pytest.fixture
def local_targets(settings):
    """Receivers on this machine (loopback) are allowed, over plain http, with a short retry
    schedule and timeout."""
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_RETRY_SCHEDULE = [0, 0, 0, 0, 0]
    settings.WEBHOOK_TIMEOUT_SECONDS = 2
    return settings


@pytest.fixture
def receiver(local_targets):
    with Receiver() as server:
        yield server


@pytest.fixture
def dns(monkeypatch):
    """Play DNS: ``dns["name"] = ["1.2.3.4", ...]``; other names resolve as usual."""
    answers: dict[str, list[str]] = {}
    real = targets._getaddrinfo

    def fake(host, port):
        if host in answers:
            import socket

            return [
                (
                    socket.AF_INET6 if ":" in a else socket.AF_INET,
                    socket.SOCK_STREAM,
                    6,
                    "",
                    (a, port),
                )
                for a in answers[host]
            ]
        return real(host, port)

    monkeypatch.setattr(targets, "_getaddrinfo", fake)
    return answers
