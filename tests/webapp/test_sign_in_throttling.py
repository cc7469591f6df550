"""Per-account sign-in throttling on real Redis: many addresses, one account (ASVS 2.2.1)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from flask import Flask
from flask.testing import FlaskClient

from pulse.people.models import Person
from tests.conftest import PASSWORD
from webapp.auth.throttle import DEVICE_COOKIE

LEADER = "leader@example.org"


def _from(app: Flask, address: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def _attempt(client: FlaskClient, email: str, password: str) -> int:
    return client.post("/sign-in", data={"email": email, "password": password}).status_code


def test_270_wrong_passwords_from_30_addresses_are_mostly_refused(
    limited: Flask, make_user: Callable[..., Person]
) -> None:
    make_user(LEADER, role="admin")
    attackers = [_from(limited, f"203.0.113.{i}") for i in range(30)]
    # Nine each: under the per-address limit of ten a minute, so that alone stops nothing.
    codes = Counter(_attempt(attackers[i % 30], LEADER, f"guess {i}") for i in range(270))
    assert codes[401] == 5  # the first step of the backoff: five a minute
    assert codes[429] == 265


def test_an_account_under_attack_is_not_locked_for_its_known_device(
    limited: Flask, make_user: Callable[..., Person]
) -> None:
    make_user(LEADER, role="admin")
    leader = _from(limited, "198.51.100.7")
    assert _attempt(leader, LEADER, PASSWORD) == 302
    assert leader.get_cookie(DEVICE_COOKIE, path="/sign-in") is not None
    leader.post("/sign-out")
    attacker = _from(limited, "203.0.113.9")
    for i in range(8):
        _attempt(attacker, LEADER, f"guess {i}")
    assert _attempt(_from(limited, "203.0.113.10"), LEADER, PASSWORD) == 429
    # The leader's browser has its own bucket: the attack does not reach it.
    assert _attempt(leader, LEADER, PASSWORD) == 302


def test_a_device_cookie_of_one_account_gives_no_way_round_another_accounts_limit(
    limited: Flask, make_user: Callable[..., Person]
) -> None:
    make_user(LEADER, role="admin")
    make_user("other@example.org", role="admin")
    attacker = _from(limited, "203.0.113.20")
    assert _attempt(attacker, "other@example.org", PASSWORD) == 302
    attacker.post("/sign-out")
    codes = [_attempt(attacker, LEADER, f"guess {i}") for i in range(7)]
    assert codes == [401] * 5 + [429] * 2


def test_unknown_accounts_are_limited_alike_so_limits_reveal_nothing(limited: Flask) -> None:
    codes = [
        _attempt(_from(limited, f"203.0.113.{i}"), "nobody@example.org", "x") for i in range(7)
    ]
    assert codes == [401] * 5 + [429] * 2
