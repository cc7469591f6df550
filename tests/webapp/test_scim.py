"""SCIM 2.0 against a live server on 127.0.0.1: scim2-tester, and what Entra and Okta send."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx2
import pytest
from flask import Flask
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.people.models import Person
from pulse.teams.models import Membership, Team
from pulse.tokens.service import create_token
from tests.support.live_server import live_server

SCIM_TYPE = "application/scim+json"
USER = "urn:ietf:params:scim:schemas:core:2.0:User"
GROUP = "urn:ietf:params:scim:schemas:core:2.0:Group"
PATCH = "urn:ietf:params:scim:api:messages:2.0:PatchOp"


@pytest.fixture
def scim_url(app: Flask) -> Iterator[str]:
    with live_server(app) as base:
        yield f"{base}/scim/v2"


@pytest.fixture
def scim_token(session: Session) -> str:
    session.add(Team(name="Acme", kind="organisation"))
    secret = create_token(session, kind="scim", name="idp").secret
    session.commit()
    return secret


@pytest.fixture
def http(scim_url: str, scim_token: str) -> Iterator[httpx2.Client]:
    headers = {"Authorization": f"Bearer {scim_token}", "Content-Type": SCIM_TYPE}
    with httpx2.Client(base_url=scim_url, headers=headers, timeout=30) as client:
        yield client


def test_scim2_tester_finds_no_error(http: httpx2.Client) -> None:
    client = SyncSCIMClient(http)
    client.discover()
    results = check_server(client, raise_exceptions=False)
    failed = [
        (r.title, r.resource_type, r.reason)
        for r in results
        if r.status in {Status.ERROR, Status.CRITICAL}
    ]
    assert failed == []
    passed = [r for r in results if r.status == Status.SUCCESS]
    assert len(passed) > 50


def test_without_a_scim_token_nothing_is_served(
    scim_url: str, scim_token: str, session: Session
) -> None:
    api = create_token(session, kind="api", name="bi").secret
    session.commit()
    for headers in ({}, {"Authorization": f"Bearer {api}"}, {"Authorization": "Bearer x"}):
        response = httpx2.get(f"{scim_url}/Users", headers=headers)
        assert response.status_code == 401
    assert (
        httpx2.get(
            f"{scim_url}/Users", headers={"Authorization": f"Bearer {scim_token}"}
        ).status_code
        == 200
    )


def _person(session: Session, email: str) -> Person:
    session.expire_all()
    person = session.scalar(select(Person).where(Person.email == email))
    assert person is not None
    return person


def test_entra_and_okta_provision_people_and_teams(http: httpx2.Client, session: Session) -> None:
    # An existing person (imported from CSV) is adopted, not duplicated.
    session.add(Person(email="ada@example.org", name="Ada (CSV)"))
    session.commit()
    created = http.post(
        "/Users",
        json={
            "schemas": [USER],
            "userName": "ada@example.org",
            "externalId": "0b9c-entra",
            "active": True,
            "displayName": "Ada Lovelace",
            "emails": [{"primary": True, "type": "work", "value": "ada@example.org"}],
        },
    )
    assert created.status_code == 201, created.text
    ada = created.json()["id"]
    assert _person(session, "ada@example.org").name == "Ada Lovelace"
    assert len(session.scalars(select(Person)).all()) == 1
    bob = http.post(
        "/Users",
        json={"schemas": [USER], "userName": "bob@example.org", "externalId": "okta-bob"},
    ).json()["id"]
    # Filters the providers use to find a user before creating one.
    for query in ('userName eq "ada@example.org"', 'externalId eq "0b9c-entra"'):
        found = http.get("/Users", params={"filter": query}).json()
        assert found["totalResults"] == 1 and found["Resources"][0]["id"] == ada
    assert http.get("/Users", params={"filter": 'userName eq "nobody"'}).json()["totalResults"] == 0
    # A group becomes a team under the organisation, its members the team's members.
    group = http.post(
        "/Groups",
        json={"schemas": [GROUP], "displayName": "Platform", "members": [{"value": ada}]},
    )
    assert group.status_code == 201, group.text
    group_id = group.json()["id"]
    # Entra: capitalised ops, members added by path.
    added = http.patch(
        f"/Groups/{group_id}",
        json={
            "schemas": [PATCH],
            "Operations": [{"op": "Add", "path": "members", "value": [{"value": bob}]}],
        },
    )
    assert added.status_code in (200, 204), added.text
    team = session.scalar(select(Team).where(Team.name == "Platform"))
    assert team is not None and team.parent_id is not None

    def members() -> set[str]:
        session.expire_all()
        rows = session.scalars(
            select(Person.email)
            .join(Membership, Membership.person_id == Person.id)
            .where(Membership.team_id == team.id, Membership.ended_on.is_(None))
        )
        return set(rows)

    assert members() == {"ada@example.org", "bob@example.org"}
    removed = http.patch(
        f"/Groups/{group_id}",
        json={
            "schemas": [PATCH],
            "Operations": [{"op": "Remove", "path": f'members[value eq "{ada}"]'}],
        },
    )
    assert removed.status_code in (200, 204), removed.text
    assert members() == {"bob@example.org"}
    # Entra deactivates with a path; Okta replaces without one.
    entra: dict[str, Any] = {
        "schemas": [PATCH],
        "Operations": [{"op": "Replace", "path": "active", "value": False}],
    }
    assert http.patch(f"/Users/{ada}", json=entra).status_code in (200, 204)
    assert _person(session, "ada@example.org").active is False
    okta = {"schemas": [PATCH], "Operations": [{"op": "replace", "value": {"active": False}}]}
    assert http.patch(f"/Users/{bob}", json=okta).status_code in (200, 204)
    assert _person(session, "bob@example.org").active is False
    # Deleting a user deactivates the person and keeps their history; a group's team is archived.
    assert http.delete(f"/Groups/{group_id}").status_code == 204
    session.expire_all()
    assert session.get(Team, team.id).archived_at is not None  # type: ignore[union-attr]
    assert members() == set()
    assert http.delete(f"/Users/{bob}").status_code == 204
    assert http.get(f"/Users/{bob}").status_code == 404
    assert _person(session, "bob@example.org").active is False
