"""The sign-in lockout's counters, read and cleared by the CRM (admins' Unlock, the
``unlock_account`` command).

allauth counts failed sign-ins per rate of ``ACCOUNT_RATE_LIMITS["login_failed"]`` in the shared
cache, one list of timestamps per key: ``allauth:rl:allauth.account:login_failed:<rate>:`` then
the SHA-256 of the account key for per-key rates (ours is ``user:<id>``, whatever the user typed,
see ``AccountAdapter._get_login_attempts_cache_key``), or ``ip:<address>`` for per-address rates.
"""

import time

from allauth.core.internal import ratelimit
from django.core.cache import cache

APP = "allauth.account"
ACTION = "login_failed"


def _rates(per: str) -> list:
    return [rate for rate in ratelimit.get_rates(app=APP, action=ACTION) if rate.per == per]


def _account_keys(user) -> list[tuple]:
    return [
        (
            rate,
            ratelimit.get_cache_key(None, app=APP, action=ACTION, rate=rate, key=f"user:{user.pk}"),
        )
        for rate in _rates("key")
    ]


def _address_keys(ip: str) -> list[tuple]:
    # get_cache_key reads the address from a request; the key is the same for a given address.
    address = ratelimit.truncate_ip(ip)
    return [
        (rate, ":".join(["allauth", "rl", APP, ACTION, str(rate), "ip", address]))
        for rate in _rates("ip")
    ]


def _locked(keys) -> bool:
    now = time.time()
    for rate, key in keys:
        history = list(cache.get(key, []))
        allowed, _ = ratelimit.apply_rate(history, now, rate, dry_run=True)
        if not allowed:
            return True
    return False


def _clear(keys) -> int:
    """Delete the counters; returns how many failed attempts they held."""
    cleared = 0
    for _rate, key in keys:
        with ratelimit.cache_lock(key):
            cleared += len(cache.get(key, []))
            cache.delete(key)
    return cleared


def account_is_locked(user) -> bool:
    """Whether sign-in to ``user``'s account is refused right now for too many failures."""
    return _locked(_account_keys(user))


def account_lockout_clear(user) -> int:
    """Forget the failed sign-ins counted against ``user``'s account (from any address)."""
    return _clear(_account_keys(user))


def address_is_locked(ip: str) -> bool:
    return _locked(_address_keys(ip))


def address_lockout_clear(ip: str) -> int:
    """Forget the failed sign-ins counted against one client address (any accounts)."""
    return _clear(_address_keys(ip))
