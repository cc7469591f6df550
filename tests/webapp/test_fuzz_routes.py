"""Every route answers malformed requests without a 5xx, and a refused request writes nothing.

The routes come from the app's url_map (and SCIM's resource types), so a route added later is
fuzzed too. Each is sent Hypothesis-drawn requests: random or wrongly typed form fields, huge
strings, invalid UTF-8, JSON where a form is expected and the reverse, wrong content types,
missing or bogus CSRF tokens, path parameters that are unknown, negative, huge or not numbers,
and link tokens of the wrong length, as an anonymous visitor, a member, a leader and an admin.
After each request every table's rows are compared with the world's (when SQLite says
anything was committed).

With CSRF on (as in production) the bodies never carry a valid token, so no route that checks
CSRF may write at all. With CSRF off, the forms' own validation is fuzzed: anything a route
refuses (4xx) must have written nothing; what it accepts is put back before the next request.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from werkzeug.routing import Rule

from pulse.db import make_engine, make_session_factory
from tests.conftest import IN_CI, make_settings
from tests.support.malformed import (
    SCIM_JSON,
    USER,
    Malformed,
    bogus_bearers,
    fill_path,
    malformed_request,
    scim_bodies,
)
from tests.support.route_fuzz import (
    EMAILS,
    ROLES,
    FuzzWorld,
    Target,
    WriteWatch,
    build_fuzz_world,
    csrf_token_of,
    field_names,
    session_cookie,
    sign_in_as,
)
from webapp import create_app
from worker.embedded_redis import EmbeddedRedis

SKIPPED_METHODS = {"HEAD", "OPTIONS"}
BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
# Reading with a live token records when it was last used: that is the token working.
TOKEN_USE = frozenset({"integration_tokens.last_used_at"})
EXAMPLES = 8


def profile(examples: int) -> Callable[[Any], Any]:
    return settings(
        max_examples=examples,
        deadline=None,
        derandomize=IN_CI,
        database=None if IN_CI else settings.default.database,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        # Explaining a failure traces every line the app runs: minutes on a failing route.
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],
    )


@pytest.fixture(scope="module")
def world_file(
    tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path
) -> tuple[Path, FuzzWorld]:
    """The organisation, built once per module into a database file each test copies."""
    path = tmp_path_factory.mktemp("fuzz") / "world.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    with make_session_factory(engine)() as session:
        world = build_fuzz_world(session)
    engine.dispose()
    return path, world


@pytest.fixture
def make_target(
    world_file: tuple[Path, FuzzWorld], tmp_path: Path, redis_server: EmbeddedRedis
) -> Iterator[Callable[..., Target]]:
    apps: list[Flask] = []
    targets: list[Target] = []

    def make(csrf_enabled: bool, ignore: frozenset[str] = frozenset()) -> Target:
        source, world = world_file
        directory = tmp_path / f"csrf-{csrf_enabled}"
        directory.mkdir()
        database = directory / "pulse.db"
        shutil.copy(source, database)
        settings_ = make_settings(f"sqlite:///{database}", redis_server.url)
        app = create_app(
            {
                "PULSE": settings_,
                "TESTING": True,
                "WTF_CSRF_ENABLED": csrf_enabled,
                "RATELIMIT_ENABLED": False,
            }
        )
        apps.append(app)
        cookies: dict[str, str | None] = {"anonymous": None}
        foreign: list[str] = []
        clients = {}
        for role in ROLES[1:]:
            client = app.test_client()
            sign_in_as(client, EMAILS[role], csrf_enabled)
            cookies[role] = session_cookie(client)
            clients[role] = client
        anonymous = app.test_client()
        token = csrf_token_of(anonymous.get("/sign-in").get_data(as_text=True))
        if token:
            foreign.append(token)  # a real token, of another session
        names = field_names(app, clients["admin"], world)
        # With CSRF on, nothing but the answer page may write, and what it writes is put back
        # so that every example meets the same world. With CSRF off, forms that validate do
        # write (deactivate a person, rename a team): their new state becomes the one the
        # next request is compared with, rather than copying the database back each time.
        watch = WriteWatch(app.extensions["pulse.db"][0], database, ignore, restore=csrf_enabled)
        target = Target(app, world, watch, cookies, csrf_enabled, names, foreign)
        targets.append(target)
        return target

    yield make
    for target in targets:
        target.watch.close()
    for app in apps:
        app.extensions["pulse.db"][0].dispose()


def flask_rules(app: Flask) -> list[Rule]:
    return sorted(app.url_map.iter_rules(), key=lambda r: (r.rule, r.endpoint))


def fuzz_rule(target: Target, rule: Rule, examples: int) -> str | None:
    """Fuzz one rule; the failure Hypothesis shrank to, as text, or None."""
    methods = sorted(((rule.methods or set()) - SKIPPED_METHODS) | BODY_METHODS)
    exempt = target.csrf_exempt(rule.endpoint)
    requests = malformed_request(methods, target.field_names, target.csrf_values())

    @profile(examples)
    @given(role=st.sampled_from(ROLES), path=fill_path(rule, target.world), request=requests)
    def check(role: str, path: str, request: Malformed) -> None:
        response = request.send(target.client(role), path)
        written = target.watch.written()
        where = f"{role} {path[:120]} {request.describe()} -> {response.status_code}"
        assert response.status_code < 500, where
        if response.status_code >= 400:
            assert not written, f"refused, yet wrote {written}: {where}"
        elif written and target.csrf_enabled:
            # Only a route that takes no CSRF token (the answer page: its link is the
            # credential) may accept a body as it comes; a GET never writes.
            assert exempt and request.method in BODY_METHODS, f"wrote {written}: {where}"

    return failure_of(check, f"{rule.rule} ({rule.endpoint})")


def failure_of(check: Callable[[], None], label: str) -> str | None:
    """Run a Hypothesis check; the failure it shrank to, as text, so every route is reported."""
    try:
        check()
    except (AssertionError, ExceptionGroup) as failure:
        return f"{label}: {failure}"
    return None


def fuzz_all(target: Target, examples: int) -> None:
    failures = [fuzz_rule(target, rule, examples) for rule in flask_rules(target.app)]
    found = [f for f in failures if f]
    assert not found, "\n\n".join(found)


def test_every_route_is_enumerated(make_target: Callable[..., Target]) -> None:
    target = make_target(False)
    rules = {rule.rule for rule in flask_rules(target.app)}
    for expected in ("/sign-in", "/s/<token>", "/admin/people/<int:person_id>", "/api/v1/themes"):
        assert expected in rules
    assert "csrf_token" in target.field_names and "email" in target.field_names


def test_with_csrf_on_no_malformed_request_gets_a_5xx_or_writes(
    make_target: Callable[..., Target],
) -> None:
    fuzz_all(make_target(True), EXAMPLES)


def test_with_csrf_off_form_validation_refuses_without_a_5xx_or_a_write(
    make_target: Callable[..., Target],
) -> None:
    fuzz_all(make_target(False), EXAMPLES)


def _api_query_names(client: FlaskClient) -> tuple[str, ...]:
    """Every query argument the API documents."""
    spec = client.get("/api/v1/openapi.json").get_json()
    names = {
        parameter["name"]
        for operations in spec["paths"].values()
        for operation in operations.values()
        for parameter in operation.get("parameters", [])
    }
    return tuple(sorted(names))


def fuzz_api_rule(
    target: Target, rule: Rule, live: str, query_names: tuple[str, ...]
) -> str | None:
    """Bad bearer tokens get 401 (a session cookie never stands in), a live one with malformed
    queries no 5xx; every refusal is JSON with a message, and nothing is written."""
    public = target.client("anonymous").get(rule.rule).status_code == 200
    methods = sorted(((rule.methods or set()) - SKIPPED_METHODS) | BODY_METHODS)
    bearers = (live, *bogus_bearers(target.world, "api"))

    @profile(EXAMPLES * 2)
    @given(
        role=st.sampled_from(ROLES),
        request=malformed_request(methods, [], [], bearers, query_names),
    )
    def check(role: str, request: Malformed) -> None:
        response = request.send(target.client(role), rule.rule)
        written = target.watch.written()
        where = f"{role} {rule.rule} {request.headers} {request.describe()}"
        assert response.status_code < 500, f"{where} -> {response.status_code}"
        assert not written, f"wrote {written}: {where}"
        if request.headers.get("Authorization") != live and not public:
            assert response.status_code in {401, 405}, f"{where} -> {response.status_code}"
        if response.status_code >= 400:
            assert response.is_json and response.get_json()["message"], where

    return failure_of(check, rule.rule)


def test_the_api_refuses_bad_bearer_tokens_and_malformed_queries(
    make_target: Callable[..., Target],
) -> None:
    target = make_target(True, TOKEN_USE)
    live = f"Bearer {target.world.tokens['api']}"
    names = _api_query_names(target.client("anonymous"))
    rules = [r for r in flask_rules(target.app) if r.rule.startswith("/api/")]
    assert len(rules) >= 8
    failures = [fuzz_api_rule(target, rule, live, names) for rule in rules]
    found = [f for f in failures if f]
    assert not found, "\n\n".join(found)


SCIM = "/scim/v2"


def _scim_paths(target: Target, live: str) -> list[str]:
    """SCIM's endpoints, its resource types read by discovery, one provisioned user's URL."""
    client = target.client("anonymous")
    headers = {"Authorization": live}
    types = client.get(f"{SCIM}/ResourceTypes", headers=headers).get_json()["Resources"]
    endpoints = [t["endpoint"] for t in types]
    created = client.post(
        f"{SCIM}/Users",
        json={"schemas": [USER], "userName": "grace@example.org", "active": True},
        headers={**headers, "Content-Type": SCIM_JSON},
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    user = f"/Users/{created.get_json()['id']}"
    # What SCIM accepts stays: its storage is the directory's, not a cache to rewind.
    target.rebase(restore=False)
    fixed = ["", "/Me", "/Bulk", "/.search", "/ServiceProviderConfig", "/Schemas", "/Schemas/x"]
    paths = [*fixed, "/ResourceTypes", user, f"{user}x", "/Users/%00", "/Users/" + "a" * 300]
    for endpoint in endpoints:
        paths += [endpoint, f"{endpoint}/.search", f"{endpoint}/no-such-id"]
    return [SCIM + p for p in paths]


def fuzz_scim_path(target: Target, path: str, live: str) -> str | None:
    """Bad bearer tokens get 401; a live one with malformed JSON no 5xx, and a refusal writes
    nothing (what SCIM accepts is put back)."""
    # Discovery a provider may serve without a token (RFC 7644 §4), such as its configuration.
    public = target.client("anonymous").get(path).status_code == 200

    @profile(EXAMPLES)
    @given(
        auth=st.sampled_from([live, live, *bogus_bearers(target.world, "scim")]),
        method=st.sampled_from(["GET", "POST", "PUT", "PATCH", "DELETE"]),
        body=st.one_of(
            scim_bodies().map(lambda b: json.dumps(b).encode()),
            st.sampled_from([b"", b"{", b"\xff\xfe", b"null", b"[]"]),
        ),
        content_type=st.sampled_from([SCIM_JSON, "application/json", "text/plain", None]),
        query=st.sampled_from(
            ["", "filter=userName eq", "count=-1", "startIndex=x", "attributes=%ff"]
        ),
    )
    def check(auth: str, method: str, body: bytes, content_type: str | None, query: str) -> None:
        response = target.client("anonymous").open(
            f"{path}?{query}",
            method=method,
            data=body,
            headers={"Authorization": auth},
            content_type=content_type,
        )
        written = target.watch.written()
        where = f"{method} {path}?{query} {auth[:30]} {content_type} {body[:200]!r}"
        # RFC 7644 §3.11: a provider without /Me answers it 501, as the standard asks.
        spec_501 = path.endswith("/Me") and response.status_code == 501
        assert response.status_code < 500 or spec_501, f"{where} -> {response.status_code}"
        if auth != live and not (public and method == "GET"):
            # The method is checked against the endpoint before the token: no data either way.
            assert response.status_code in {401, 405}, f"{where} -> {response.status_code}"
        if response.status_code >= 400:
            assert not written, f"refused, yet wrote {written}: {where}"

    return failure_of(check, path)


def test_scim_refuses_bad_bearer_tokens_and_malformed_json(
    make_target: Callable[..., Target],
) -> None:
    target = make_target(True, TOKEN_USE)
    live = f"Bearer {target.world.tokens['scim']}"
    failures = [fuzz_scim_path(target, path, live) for path in _scim_paths(target, live)]
    found = [f for f in failures if f]
    assert not found, "\n\n".join(found)
