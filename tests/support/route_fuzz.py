"""The route fuzzer's world: a small organisation with one of every kind of row a URL can
name, the app on a copy of it with each role's session, and a watch that tells which tables a
request wrote (and puts them back).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import sqlite3
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import MetaData, select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session
from werkzeug.routing import Rule

from pulse.accounts.tokens import issue_token
from pulse.db import utcnow
from pulse.delivery.models import Invitation, InvitationLink, OutboxMessage
from pulse.delivery.tokens import new_token, token_hash
from pulse.people.models import Person
from pulse.people.service import create_user, hash_password
from pulse.surveys.cycles import create_cycle
from pulse.surveys.schedules import ScheduleSpec, create_schedule
from pulse.teams.models import Membership
from pulse.tokens.service import create_token
from pulse.webhooks.service import register_endpoint
from tests.conftest import sign_in
from tests.support.api_world import build_world
from webapp.extensions import csrf

# Field names every form may meet, beside those read off the app's own pages.
KNOWN_FIELDS = ["csrf_token", "email", "password", "confirm", "name", "team_id", "parent_id"]
PASSWORD = "correct horse battery"
ROLES = ("anonymous", "member", "leader", "admin")
EMAILS = {
    "member": "member@example.org",
    "leader": "leader@example.org",
    "admin": "admin@example.org",
}


@dataclass
class FuzzWorld:
    """Ids and secrets of the rows a URL or a header can name."""

    ids: dict[str, list[int]]
    tokens: dict[str, str]
    extra: dict[str, Any] = field(default_factory=dict)

    def all_ids(self) -> list[int]:
        return sorted({i for values in self.ids.values() for i in values})


def build_fuzz_world(session: Session) -> FuzzWorld:
    """Teams with answers and aggregates, an open cycle with a live link, a schedule, a
    webhook, an outbox message, people of every role, and live API and SCIM tokens."""
    world = build_world(session)
    alpha = world.teams["Alpha"]
    admin = create_user(session, email=EMAILS["admin"], password=PASSWORD, role="admin")
    leader = create_user(
        session, email=EMAILS["leader"], password=PASSWORD, role="leader", team_name="Alpha"
    )
    member = Person(email=EMAILS["member"], name="Member", password_hash=hash_password(PASSWORD))
    session.add(member)
    session.flush()
    session.add(Membership(person_id=member.id, team_id=alpha.id, started_on=date(2020, 1, 1)))
    now = utcnow()
    live = create_cycle(
        session,
        schedule_id=None,
        period_key="fuzz",
        sequence=9,
        program="full",
        opens_at=now - timedelta(days=1),
        closes_at=now + timedelta(days=5),
    )
    invitation = Invitation(cycle_id=live.id, person_id=member.id, team_id=alpha.id)
    session.add(invitation)
    session.flush()
    answer_token = new_token()
    session.add(InvitationLink(invitation_id=invitation.id, token_hash=token_hash(answer_token)))
    invitee = Person(email="invitee@example.org", name="Invitee")
    session.add(invitee)
    session.flush()
    schedule = create_schedule(
        session,
        spec=ScheduleSpec(
            name="Fortnightly pulse",
            cadence="weekly",
            interval=2,
            weekday=0,
            local_hour=9,
            timezone="Europe/London",
            window_days=5,
            reminder_hours=[48],
            start_date=date(2027, 1, 4),
            target_team_ids=[world.teams["Org"].id],
        ),
    )
    webhook = register_endpoint(
        session, actor=admin, url="https://hooks.example.org/pulse", events=["cycle.closed"]
    )
    outbox = OutboxMessage(
        to_addr=EMAILS["member"], subject="Pulse", text_body="Hello", html_body="<p>Hello</p>"
    )
    session.add(outbox)
    session.flush()
    tokens = {
        "answer": answer_token,
        "invite": issue_token(session, person=invitee, purpose="invite"),
        "reset": issue_token(session, person=leader, purpose="reset"),
        "api": create_token(session, kind="api", name="bi", role="admin").secret,
        "scim": create_token(session, kind="scim", name="idp").secret,
    }
    session.commit()
    people = [admin.id, leader.id, member.id, invitee.id]
    return FuzzWorld(
        ids={
            "person": people,
            "team": sorted(t.id for t in world.teams.values()),
            "cycle": [world.closed.id, world.open.id, live.id],
            "schedule": [schedule.id],
            "endpoint": [webhook.id],
            "message": [outbox.id],
            "invitation": [invitation.id],
        },
        tokens=tokens,
    )


_METADATA: dict[str, MetaData] = {}


def _reflected(engine: Engine) -> MetaData:
    """The database's tables, reflected once per database: the schema does not change while
    requests are fuzzed, and reflecting dozens of tables on every check took most of the run."""
    key = engine.url.render_as_string(hide_password=False)
    if key not in _METADATA:
        metadata = MetaData()
        metadata.reflect(engine)
        _METADATA[key] = metadata
    return _METADATA[key]


def database_fingerprint(engine: Engine, ignore: frozenset[str] = frozenset()) -> dict[str, str]:
    """A digest of every row of every table (columns named `table.column` in `ignore` left out),
    so that two fingerprints differ exactly when something was written."""
    metadata = _reflected(engine)
    digests: dict[str, str] = {}
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            columns = [c for c in table.columns if f"{table.name}.{c.name}" not in ignore]
            rows = connection.execute(select(*columns)).all()
            text = "\n".join(sorted(repr(tuple(row)) for row in rows))
            digests[table.name] = hashlib.sha256(text.encode()).hexdigest()
    return digests


def changed_tables(before: dict[str, str], after: dict[str, str]) -> list[str]:
    names = before.keys() | after.keys()
    return sorted(name for name in names if before.get(name) != after.get(name))


class WriteWatch:
    """Which tables of a SQLite database requests wrote, and a way to undo it.

    SQLite's data_version moves whenever another connection commits, so the rows are hashed
    only after a commit; the snapshot is copied back with SQLite's backup API.
    """

    def __init__(
        self,
        engine: Engine,
        path: Path,
        ignore: frozenset[str] = frozenset(),
        *,
        restore: bool = True,
    ) -> None:
        self.engine, self.path, self.ignore, self.restore = engine, path, ignore, restore
        self.snapshot = path.with_name(path.stem + "-snapshot.db")
        shutil.copy(path, self.snapshot)
        self.watch = sqlite3.connect(path, isolation_level=None)
        self.baseline = database_fingerprint(engine, ignore)
        self.version = self._version()

    def _version(self) -> int:
        return int(self.watch.execute("PRAGMA data_version").fetchone()[0])

    def written(self) -> list[str]:
        """Tables changed since the last state; then the database is put back (or, without
        `restore`, its new state becomes the one to compare with)."""
        if self._version() == self.version:
            return []
        now = database_fingerprint(self.engine, self.ignore)
        tables = changed_tables(self.baseline, now)
        if tables and self.restore:
            self.engine.dispose()  # no pooled connection keeps a lock the copy would wait on
            with sqlite3.connect(self.snapshot) as source:
                source.backup(self.watch)
            assert database_fingerprint(self.engine, self.ignore) == self.baseline, "not restored"
        elif tables:
            self.baseline = now
        self.version = self._version()
        return tables

    def close(self) -> None:
        self.watch.close()


@dataclass
class Target:
    """One app on its own copy of the world, with the cookies of each role signed in."""

    app: Flask
    world: FuzzWorld
    watch: WriteWatch
    cookies: dict[str, str | None]
    csrf_enabled: bool
    field_names: list[str]
    foreign_csrf: list[str]

    def client(self, role: str) -> FlaskClient:
        client = self.app.test_client()
        cookie = self.cookies[role]
        if cookie is not None:
            client.set_cookie("session", cookie)
        return client

    def rebase(self, *, restore: bool = True) -> None:
        """Take the database as it is now as the state every request must leave."""
        self.watch.close()
        watch = self.watch
        self.watch = WriteWatch(watch.engine, watch.path, watch.ignore, restore=restore)

    def csrf_values(self) -> list[str]:
        """What a body's csrf_token may hold: never a valid token of its own session."""
        return ["", "x", "a" * 5000, "IjAwMDAi.Zz.bogus", *self.foreign_csrf]

    def csrf_exempt(self, endpoint: str) -> bool:
        """Whether the route takes requests without a CSRF token (Flask-WTF's own test)."""
        view = self.app.view_functions[endpoint]
        blueprint = self.app.blueprints.get(endpoint.rpartition(".")[0])
        exempt_blueprints: set[Any] = csrf._exempt_blueprints
        exempt_views: set[str] = csrf._exempt_views
        return (
            blueprint in exempt_blueprints or f"{view.__module__}.{view.__name__}" in exempt_views
        )


def csrf_token_of(html: str) -> str | None:
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    return match.group(1) if match else None


def sign_in_as(client: FlaskClient, email: str, csrf_enabled: bool) -> None:
    if not csrf_enabled:
        assert sign_in(client, email).status_code == 302
        return
    token = csrf_token_of(client.get("/sign-in").get_data(as_text=True))
    response = client.post(
        "/sign-in", data={"email": email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 302, email


def session_cookie(client: FlaskClient) -> str | None:
    cookie = client.get_cookie("session")
    return cookie.value if cookie is not None else None


def example_path(rule: Rule, world: FuzzWorld) -> str | None:
    """The rule's URL with real ids and tokens, or None when an argument has no known value."""
    path = rule.rule
    for argument in rule.arguments:
        kind = argument.removesuffix("_id")
        if kind in world.ids:
            value = str(world.ids[kind][0])
        elif argument == "token":
            value = world.tokens["answer"]
        else:
            return None
        path = re.sub(rf"<(?:[^:>]+:)?{argument}>", value, path)
    return path


def field_names(app: Flask, client: FlaskClient, world: FuzzWorld) -> list[str]:
    """Every input name on every page the app serves to an admin (and the answer page)."""
    names = set(KNOWN_FIELDS)
    for rule in app.url_map.iter_rules():
        path = example_path(rule, world)
        if path is None or "GET" not in (rule.methods or set()) or "static" in rule.endpoint:
            continue
        if path.startswith("/dashboard/_") or re.search(r"\.[a-z]+$", path):
            continue  # Dash's JSON and downloads hold no forms
        response = client.get(path)
        if response.mimetype != "text/html":
            continue
        html = response.get_data(as_text=True)
        names |= set(re.findall(r'<(?:input|select|textarea)[^>]*name="([^"]+)"', html))
    return sorted(names)
