"""Server-side request forgery: a webhook URL whose host resolves to an address inside our
network (or no real address) is refused when saved, and again at each send, where the request
goes to the address that was checked."""

import pytest
from django.core.exceptions import ValidationError

from crm import webhooks
from crm.choices import WebhookDeliveryState as State
from crm.models import WebhookDelivery
from crm.services.webhooks import webhook_endpoint_create, webhook_endpoint_update
from crm.webhooks.delivery import webhooks_deliver
from crm.webhooks.targets import TargetRefused, address_refusal, target_check
from tests.factories import AccountFactory, WebhookEndpointFactory
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.django_db

REFUSED = {
    "10.1.2.3": "private",
    "172.16.0.1": "private",
    "192.168.1.10": "private",
    "fc00::1": "private",
    "127.0.0.1": "loopback",
    "127.8.9.10": "loopback",
    "::1": "loopback",
    "169.254.169.254": "link-local",  # cloud metadata
    "fe80::1": "link-local",
    "224.0.0.1": "multicast",
    "ff02::1": "multicast",
    "240.0.0.1": "reserved",
    "100.64.0.1": "reserved",  # carrier-grade NAT
    "0.0.0.0": "unspecified",
    "::": "unspecified",
    "::ffff:127.0.0.1": "loopback",  # IPv4-mapped IPv6
    "::ffff:10.0.0.1": "private",
    "::ffff:169.254.169.254": "link-local",
    "64:ff9b::a9fe:a9fe": "link-local",  # NAT64 of 169.254.169.254
    "2002:7f00:1::": "loopback",  # 6to4 of 127.0.0.1
}
ALLOWED = ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111", "::ffff:93.184.215.14"]


@pytest.mark.parametrize(("address", "kind"), REFUSED.items())
def test_each_class_of_inside_address_is_refused(settings, address, kind):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False

    assert kind in address_refusal(address)


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(settings, address):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False

    assert address_refusal(address) is None


def test_allowing_private_targets_opens_loopback_and_private_only(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = True

    for address in ("127.0.0.1", "::1", "10.1.2.3", "192.168.1.10", "::ffff:127.0.0.1"):
        assert address_refusal(address) is None, address
    for address in ("169.254.169.254", "fe80::1", "224.0.0.1", "0.0.0.0", "240.0.0.1"):
        assert address_refusal(address) is not None, address


@pytest.mark.parametrize(("address", "kind"), REFUSED.items())
def test_saving_a_url_that_resolves_inside_is_a_form_error(settings, dns, admin, address, kind):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    dns["hooks.example.com"] = ["93.184.215.14", address]  # one bad answer is enough

    with pytest.raises(ValidationError) as error:
        webhook_endpoint_create(user=admin, url="https://hooks.example.com/in")

    assert kind in str(error.value.message_dict["url"])


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/",
        "https://[::1]:8443/",
        "https://2130706433/",  # 127.0.0.1 spelled as one number
        "https://0x7f.1/",
        "https://localhost/",
    ],
)
def test_literal_and_oddly_spelled_inside_addresses_are_refused(settings, admin, url):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False

    with pytest.raises(TargetRefused):
        target_check(url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hooks.example.com/", "Only http and https"),
        ("file:///etc/passwd", "Only http and https"),
        ("gopher://hooks.example.com/", "Only http and https"),
        ("https://user:secret@hooks.example.com/", "no user name or password"),
        ("http://hooks.example.com/", "must use https"),
        ("https:///path", "no host"),
    ],
)
def test_only_http_and_https_without_credentials(settings, dns, url, message):
    settings.WEBHOOK_ALLOW_HTTP = False
    dns["hooks.example.com"] = ["93.184.215.14"]

    with pytest.raises(TargetRefused, match=message):
        target_check(url)


def test_plain_http_is_allowed_when_the_setting_says_so(settings, dns):
    settings.WEBHOOK_ALLOW_HTTP = True
    dns["hooks.example.com"] = ["93.184.215.14"]

    target = target_check("http://hooks.example.com/in?x=1")

    assert (target.scheme, target.port, target.path, target.ip) == (
        "http",
        80,
        "/in?x=1",
        "93.184.215.14",
    )


def test_changing_the_url_is_checked_too(settings, dns, admin):
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    dns["hooks.example.com"] = ["93.184.215.14"]
    dns["inside.example.com"] = ["10.0.0.5"]
    endpoint = webhook_endpoint_create(user=admin, url="https://hooks.example.com/")

    with pytest.raises(ValidationError):
        webhook_endpoint_update(endpoint=endpoint, user=admin, url="https://inside.example.com/")


def test_dns_rebinding_at_send_time_is_refused_without_connecting(settings, dns, admin):
    """Public when saved, the name points at the loopback interface by the time of the send:
    the sender resolves again, refuses, and never connects (the local server sees nothing)."""
    settings.WEBHOOK_ALLOW_HTTP = True
    settings.WEBHOOK_ALLOW_PRIVATE_TARGETS = False
    settings.WEBHOOK_RETRY_SCHEDULE = [600]
    with Receiver() as receiver:
        dns["rebind.example.com"] = ["93.184.215.14"]
        endpoint = webhook_endpoint_create(
            user=admin, url=f"http://rebind.example.com:{receiver.port}/hooks"
        )
        dns["rebind.example.com"] = ["127.0.0.1"]
        webhooks.emit("account.created", AccountFactory())

        webhooks_deliver()

    assert receiver.requests == []
    delivery = WebhookDelivery.objects.get(endpoint=endpoint)
    assert delivery.state == State.PENDING and delivery.attempts == 1
    assert "Refused" in delivery.last_error and "loopback" in delivery.last_error


def test_the_request_goes_to_the_checked_address_under_the_urls_host_name(local_targets, dns):
    """The connection is made to the address that was checked, not by resolving the name a
    second time; the Host header still names the URL's host."""
    with Receiver() as receiver:
        dns["receiver.example.com"] = ["127.0.0.1"]
        WebhookEndpointFactory(url=f"http://receiver.example.com:{receiver.port}/in?team=1")
        webhooks.emit("account.created", AccountFactory())

        webhooks_deliver()

    (request,) = receiver.requests
    assert request.headers["host"] == f"receiver.example.com:{receiver.port}"
    assert request.path == "/in?team=1"
