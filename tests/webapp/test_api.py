"""The read-only API on a real database: tokens, scopes, hidden figures, bad input, limits."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.config import Settings
from pulse.people.models import Person, RoleGrant
from pulse.reporting import queries
from pulse.reporting.audit import Audit
from pulse.teams.service import visible_team_ids
from pulse.tokens.models import IntegrationToken
from pulse.tokens.service import create_token, revoke_token
from tests.support.api_world import ApiWorld, K, api_token, build_world
from webapp import create_app
from webapp.cli import main

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ("n", "mean", "ci_low", "ci_high", "favourable_pct", "fav_low", "fav_high", "change")


@pytest.fixture
def world(session: Session) -> ApiWorld:
    return build_world(session)


def get(client: FlaskClient, path: str, token: str | None, **params: Any) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(f"/api/v1{path}", headers=headers, query_string=params)


def test_no_token_a_wrong_one_or_a_scim_one_gets_401_json(
    client: FlaskClient, session: Session, world: ApiWorld
) -> None:
    scim = create_token(session, kind="scim", name="idp").secret
    session.commit()
    for token in (None, "nonsense", "pulse_api_" + "x" * 43, scim):
        response = get(client, "/teams", token)
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert response.json["message"]


def test_admin_sees_every_group_and_a_leader_only_their_subtree(
    client: FlaskClient, session: Session, world: ApiWorld
) -> None:
    admin = api_token(session, "bi")
    leader = api_token(session, "eng", role="leader", team="Engineering")
    everyone = {t["name"] for t in get(client, "/teams", admin).json["teams"]}
    assert everyone == {"Org", "Engineering", "Operations", "Alpha", "Beta", "Gamma"}
    mine = get(client, "/teams", leader).json["teams"]
    assert {t["name"] for t in mine} == {"Engineering", "Alpha", "Beta"}
    # Engineering's parent, the organisation, is not this token's to name.
    assert next(t for t in mine if t["name"] == "Engineering")["parent_id"] is None
    # Another department's team is not found, exactly like an id that does not exist.
    for team_id in (world.id("Gamma"), 999_999):
        response = get(client, "/themes", leader, team_id=team_id)
        assert response.status_code == 404
        assert response.json["message"]
    themes = get(client, "/themes", leader).json["themes"]
    assert {row["team"] for row in themes} == {"Engineering", "Alpha", "Beta"}
    actions = get(client, "/actions", leader).json["actions"]
    assert [a["text"] for a in actions] == ["Retro"]
    assert actions[0]["feedback"] == {"respondents": None, "counts": None, "hidden": True}


def test_figures_are_the_dashboards_and_hidden_ones_carry_no_number(
    app: Flask, client: FlaskClient, session: Session, world: ApiWorld
) -> None:
    token = api_token(session, "bi")
    body = get(client, "/themes", token, cycle_id=world.closed.id).json["themes"]
    all_ids = set(world.teams[name].id for name in world.teams)
    expected = queries.theme_rows(
        session, team_ids=all_ids, threshold=K, cycle_ids=[world.closed.id]
    )
    assert len(body) == len(expected) > 0
    for row, want in zip(body, expected, strict=True):
        assert (row["team_id"], row["theme"], row["n"], row["mean"], row["state"]) == (
            want.team_id,
            want.theme,
            want.n,
            want.mean,
            want.state,
        )
    hidden = [row for row in body if row["hidden"]]
    shown = [row for row in body if not row["hidden"]]
    assert {row["team"] for row in hidden} >= {"Beta"}
    assert shown, "the organisation's scores are shown"
    for row in hidden:
        assert all(row[name] is None for name in FIGURES), row
        assert row["state"] and row["reason"]
    beta = next(row for row in hidden if row["team"] == "Beta")
    assert beta["state"] == "too_small" and "Engineering" in beta["reason"]
    # Items follow the same pattern, and so does the team-vs-rest comparison.
    items = get(client, "/items", token, cycle_id=world.closed.id, team_id=world.id("Beta"))
    assert items.status_code == 200
    assert items.json["items"] and all(
        row["hidden"] and row["n"] is None and row["distribution"] is None
        for row in items.json["items"]
    )
    compare = get(client, "/compare", token, team_id=world.id("Gamma"), cycle_id=world.closed.id)
    want = queries.compare_rows(
        session, team_id=world.id("Gamma"), cycle_id=world.closed.id, threshold=K
    )
    assert [(r["team"], r["theme"], r["mean"]) for r in compare.json["groups"]] == [
        (r.team, r.theme, r.mean) for r in want
    ]


def test_an_open_cycle_is_sealed(client: FlaskClient, session: Session, world: ApiWorld) -> None:
    token = api_token(session, "bi")
    rows = get(client, "/themes", token, cycle_id=world.open.id).json["themes"]
    assert rows and all(r["state"] == "open" and r["n"] is None for r in rows)
    taking_part = get(client, "/participation", token, cycle_id=world.open.id).json
    assert all(r["responded"] is None for r in taking_part["participation"])
    cycles = get(client, "/cycles", token).json["cycles"]
    assert [c["status"] for c in cycles] == ["open", "closed"]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/themes", {"team_id": "abc"}),
        ("/themes", {"team_id": "0"}),
        ("/themes", {"team_id": "-3"}),
        ("/themes", {"cycle_id": str(2**63)}),
        ("/themes", {"team_id": "１"}),
        ("/items", {}),
        ("/compare", {"team_id": "1"}),
    ],
)
def test_bad_input_is_a_400_with_a_message(
    client: FlaskClient, session: Session, world: ApiWorld, path: str, params: dict[str, str]
) -> None:
    token = api_token(session, "bi")
    response = get(client, path, token, **params)
    assert response.status_code == 400
    assert response.is_json and response.json["message"]


def test_unknown_paths_and_methods_answer_json(
    client: FlaskClient, session: Session, world: ApiWorld
) -> None:
    token = api_token(session, "bi")
    assert get(client, "/nothing-here", token).status_code == 404
    assert get(client, "/nothing-here", token).is_json
    response = client.post("/api/v1/teams", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 405 and response.is_json


def test_a_revoked_token_stops_at_once_and_only_its_hash_is_kept(
    client: FlaskClient, session: Session, world: ApiWorld
) -> None:
    token = api_token(session, "bi")
    stored = session.scalar(select(IntegrationToken.token_hash))
    assert stored == hashlib.sha256(token.encode()).hexdigest()
    assert token.startswith("pulse_api_") and len(token) > 40
    assert get(client, "/teams", token).status_code == 200
    revoke_token(session, name="bi")
    session.commit()
    assert get(client, "/teams", token).status_code == 401


def test_the_api_has_a_rate_limit_per_token(settings: Settings, session: Session) -> None:
    app = create_app(
        {
            "PULSE": settings,
            "TESTING": True,
            "RATELIMIT_ENABLED": True,
            "PULSE_API_RATE_LIMIT": "3 per minute",
        }
    )
    try:
        build_world(session)
        token = api_token(session, "busy")
        client = app.test_client()
        codes = [get(client, "/teams", token).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        assert get(client, "/teams", token).is_json
        # The schema stays reachable, and CSRF (enabled here) does not apply to token calls.
        assert client.get("/api/v1/openapi.json").status_code == 200
    finally:
        app.extensions["pulse.db"][0].dispose()


def test_cli_creates_prints_once_and_revokes(database_url: str, session: Session) -> None:
    build_world(session)
    environment = {
        "PULSE_DATABASE_URL": database_url,
        "PULSE_REDIS_URL": "redis://127.0.0.1:1/0",
        "PULSE_ENV": "development",
    }
    runner = CliRunner()

    def pulse(*args: str) -> Any:
        return runner.invoke(main, ["tokens", *args], env=environment)

    made = pulse("create", "--kind", "api", "--name", "eng", "--role", "leader", "--team", "Alpha")
    assert made.exit_code == 0, made.output
    secret = made.stdout.strip()
    assert secret.startswith("pulse_api_") and "not shown again" in made.stderr
    scim = pulse("create", "--kind", "scim", "--name", "entra")
    assert scim.exit_code == 0 and scim.stdout.strip().startswith("pulse_scim_")
    refused = pulse("create", "--kind", "api", "--name", "x", "--role", "leader")
    assert refused.exit_code == 1 and "--team" in refused.stderr
    assert pulse("create", "--kind", "api", "--name", "eng").exit_code == 1
    listed = pulse("list")
    assert "eng" in listed.stdout and secret not in listed.stdout
    assert pulse("revoke", "eng").exit_code == 0
    assert pulse("revoke", "eng").exit_code == 1
    session.expire_all()
    names = set(session.scalars(select(IntegrationToken.name)))
    assert names == {"entra"}
    # As a real process too: the `pulse` entry point has the group.
    help_text = subprocess.run(
        [sys.executable, "-m", "webapp.cli", "tokens", "--help"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={**os.environ, **environment},
    )
    assert help_text.returncode == 0 and "revoke" in help_text.stdout


def test_the_disclosure_audit_covers_what_the_api_serves(
    client: FlaskClient, session: Session, world: ApiWorld
) -> None:
    """The API serves, for each role, exactly the rows of the report queries the disclosure
    audit calls with that role's teams; so the audit's verdict (nothing hidden can be worked
    out) holds for the API too."""
    leader = Person(email="lead@example.org", name="Lead", active=True)
    leader.roles = [RoleGrant(role="leader", team_id=world.id("Engineering"))]
    session.add(leader)
    session.commit()
    tokens = {
        "admin": api_token(session, "audit-admin"),
        "leader": api_token(session, "audit-leader", role="leader", team="Engineering"),
    }
    admin_ids = set(world.teams[name].id for name in world.teams)
    scopes = {"admin": admin_ids, "leader": visible_team_ids(session, person=leader)}
    for role, token in tokens.items():
        ids = scopes[role]
        for cycle in (world.closed.id, world.open.id):
            themes = get(client, "/themes", token, cycle_id=cycle).json["themes"]
            want = queries.theme_rows(session, team_ids=ids, threshold=K, cycle_ids=[cycle])
            assert [(r["team_id"], r["theme"], r["n"], r["mean"]) for r in themes] == [
                (r.team_id, r.theme, r.n, r.mean) for r in want
            ]
            items = get(client, "/items", token, cycle_id=cycle).json["items"]
            want_items = queries.item_rows(session, team_ids=ids, threshold=K, cycle_id=cycle)
            assert [(r["team_id"], r["item_code"], r["n"]) for r in items] == [
                (r.team_id, r.item_code, r.n) for r in want_items
            ]
            part = get(client, "/participation", token, cycle_id=cycle).json["participation"]
            want_part = queries.participation_rows(
                session, team_ids=ids, threshold=K, cycle_ids=[cycle]
            )
            assert [(r["team_id"], r["invited"], r["responded"], r["rate"]) for r in part] == [
                (r.team_id, r.invited, r.responded, r.rate) for r in want_part
            ]
    audit = Audit()
    audit.gather(session, threshold=K)
    result = audit.check()
    assert result.roles == 2 and result.hidden > 0
    assert result.determined == []
