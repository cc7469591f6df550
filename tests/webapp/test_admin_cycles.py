"""Admin cycles: participation exactly as leaders see it (coarse steps while open, the
cycle's hiding pattern once closed), failures by reason, resend, and no page that tells who
answered."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from pulse.answers.models import Response
from pulse.audit.models import AuditEvent
from pulse.db import utcnow
from pulse.delivery.invitations import create_invitations
from pulse.delivery.models import Invitation
from pulse.people.models import Person
from pulse.reporting.aggregation import aggregate_dirty, finalise_cycle
from pulse.reporting.dirty import mark_dirty
from pulse.surveys.cycles import create_cycle
from pulse.surveys.models import Cycle
from pulse.teams.models import Membership, Team
from tests.conftest import sign_in
from tests.support.answers import close, invite
from tests.support.task_queue import empty_queue, queued_tasks
from worker.embedded_redis import EmbeddedRedis

K = 5  # the threshold these tests run at (the settings' default)


@pytest.fixture(autouse=True)
def _leave_the_queue_empty(redis_server: EmbeddedRedis) -> Iterator[None]:
    """Pages here queue real tasks; a worker started by a later test must not run them."""
    yield
    empty_queue(redis_server.url)


@pytest.fixture
def cycle(session: Session) -> Cycle:
    """Acme > Eng > {Big: 5 people (k), Small: 4 people (k-1)}; 3 answered in Big, 2 in Small."""
    org = Team(name="Acme", kind="organisation")
    eng = Team(name="Eng", kind="department", parent=org)
    big = Team(name="Big", parent=eng)
    small = Team(name="Small", parent=eng)
    session.add_all([org, eng, big, small])
    session.flush()
    start = utcnow().date() - timedelta(days=10)
    for team, size in ((big, 5), (small, 4)):
        for i in range(size):
            person = Person(email=f"{team.name.lower()}{i}@example.org", name=f"{team.name} {i}")
            session.add(person)
            session.flush()
            session.add(Membership(person_id=person.id, team_id=team.id, started_on=start))
    opens = utcnow() - timedelta(days=1)
    found = create_cycle(
        session,
        schedule_id=None,
        period_key="2026-W47",
        sequence=0,
        program="rotating",
        opens_at=opens,
        closes_at=opens + timedelta(days=5),
    )
    create_invitations(session, cycle=found, target_team_ids={org.id}, on=utcnow().date())
    answered = ["big0@example.org", "big1@example.org", "big2@example.org"]
    answered += ["small0@example.org", "small1@example.org"]
    ids = session.scalars(select(Person.id).where(Person.email.in_(answered))).all()
    session.execute(update(Invitation).where(Invitation.person_id.in_(ids)).values(answered=True))
    for email, error in (
        ("big4@example.org", "550 mailbox unavailable"),
        ("small3@example.org", "550 mailbox unavailable"),
        ("small2@example.org", "553 bad domain"),
    ):
        person_id = session.scalar(select(Person.id).where(Person.email == email))
        session.execute(
            update(Invitation)
            .where(Invitation.person_id == person_id)
            .values(delivery_state="failed", last_error=error, attempts=3)
        )
    # As after those submits: the teams are marked and the workers aggregate them.
    for team in (big, small):
        mark_dirty(session, team_id=team.id, cycle_id=found.id)
    aggregate_dirty(session, threshold=K)
    session.commit()
    return found


@pytest.fixture
def admin_client(client: FlaskClient, make_user: Callable[..., Person]) -> FlaskClient:
    make_user("admin@example.org")
    sign_in(client, "admin@example.org")
    return client


def test_an_open_cycle_shows_what_leaders_see(admin_client: FlaskClient, cycle: Cycle) -> None:
    """Open: Eng (5 of 9) shows no rate (fewer than 20 invited: a step of 10 % would be about
    one person); Small (4 invited, k - 1) and Big, whose number invited would give Small's
    away beside Eng's, show why instead of any figure."""
    html = admin_client.get(f"/admin/cycles/{cycle.id}").get_data(as_text=True)
    rows = _rows(html)
    assert rows["Small"] == [
        "not shown",
        "too small to report on its own; its answers count towards Eng",
    ]
    assert rows["Big"] == ["not shown", "hidden so that a smaller group stays anonymous"]
    assert rows["Eng"] == ["9", "results when the cycle closes"]
    assert rows["Acme"] == ["9", "results when the cycle closes"]
    listing = admin_client.get("/admin/cycles").get_data(as_text=True)
    assert _rows(listing)["2026-W47"][-3:] == ["9", "results when the cycle closes", "3"]
    for page in (html, listing):
        assert "56%" not in page and "60%" not in page  # Eng's and Big's exact rates


def test_threshold_applies_to_the_list_too(
    admin_client: FlaskClient, cycle: Cycle, session: Session
) -> None:
    """Raised to 10, fewer than k were invited in the whole organisation: no rate anywhere."""
    admin_client.post(
        "/admin/settings",
        data={
            "name": "Acme",
            "timezone": "UTC",
            "threshold": 10,
            "threshold_participation": 10,
            "threshold_comments": 10,
        },
    )
    listing = admin_client.get("/admin/cycles").get_data(as_text=True)
    invited, participation, _ = _rows(listing)["2026-W47"][-3:]
    assert invited == "not shown" and "%" not in participation, participation
    assert "50%" not in listing and "56%" not in listing


def test_failures_grouped_by_reason(admin_client: FlaskClient, cycle: Cycle) -> None:
    html = admin_client.get(f"/admin/cycles/{cycle.id}").get_data(as_text=True)
    assert "<td>550 mailbox unavailable</td><td>2</td>" in html
    assert "<td>553 bad domain</td><td>1</td>" in html


def test_no_page_tells_who_answered(
    admin_client: FlaskClient, cycle: Cycle, session: Session
) -> None:
    failed = {"big4@example.org", "small3@example.org", "small2@example.org"}
    everyone = set(session.scalars(select(Person.email).where(Person.email != "admin@example.org")))
    for path in ("/admin/cycles", f"/admin/cycles/{cycle.id}"):
        html = admin_client.get(path).get_data(as_text=True).lower()
        for email in everyone - failed:
            assert email not in html, (path, email)
        assert "answered" not in html and "responded" not in html
    # The people pages list people, never their answering.
    people = admin_client.get("/admin/people").get_data(as_text=True).lower()
    assert "answered" not in people
    big0 = session.scalar(select(Person.id).where(Person.email == "big0@example.org"))
    big3 = session.scalar(select(Person.id).where(Person.email == "big3@example.org"))
    # CSRF tokens carry a timestamp, so two page loads may differ there and nowhere else.
    page_answered, page_silent = (
        re.sub(
            r'(csrf_token[^>]*value=")[^"]*', r"\1", admin_client.get(path).get_data(as_text=True)
        )
        for path in (f"/admin/people/{big0}", f"/admin/people/{big3}")
    )
    assert page_answered.replace("big0", "bigX").replace("Big 0", "Big X") == page_silent.replace(
        "big3", "bigX"
    ).replace("Big 3", "Big X").replace(f"/{big3}", f"/{big0}")


def test_resend_sets_failed_back_to_pending_and_queues_delivery(
    admin_client: FlaskClient, cycle: Cycle, session: Session, redis_server: EmbeddedRedis
) -> None:
    response = admin_client.post(f"/admin/cycles/{cycle.id}/resend")
    assert response.status_code == 302
    states = session.execute(
        select(Invitation.delivery_state, Invitation.attempts).where(
            Invitation.cycle_id == cycle.id, Invitation.last_error.is_not(None)
        )
    ).all()
    assert sorted(states) == [("pending", 3)] * 3
    assert ("worker.delivery.send_invitations", [cycle.id]) in queued_tasks(redis_server.url)
    event = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "cycle.resend_failed")
    ).one()
    assert event.detail == {"invitations": 3}


def test_resend_refused_on_a_closed_cycle(
    admin_client: FlaskClient, cycle: Cycle, session: Session
) -> None:
    session.execute(update(Cycle).where(Cycle.id == cycle.id).values(status="closed"))
    session.commit()
    assert admin_client.post(f"/admin/cycles/{cycle.id}/resend").status_code == 409
    failed = session.scalars(select(Invitation).where(Invitation.delivery_state == "failed")).all()
    assert len(failed) == 3
    assert admin_client.get("/admin/cycles/9999").status_code == 404


# --- participation as the dashboard shows it ------------------------------------------------


class _Cells(HTMLParser):
    """Every table row of a page as the text of its cells (header and data cells alike)."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self.rows:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _rows(html: str) -> dict[str, list[str]]:
    """Table rows keyed by their first cell (a group's name, a cycle's key): the other cells."""
    parser = _Cells()
    parser.feed(html)
    return {row[0]: row[1:] for row in parser.rows if row}


def _visible_text(html: str) -> str:
    """What a reader of the page sees: the text outside tags, scripts and styles."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S | re.I)
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def _page(client: FlaskClient, path: str) -> str:
    # CSRF tokens carry a timestamp, so two loads of one page may differ there alone.
    html = client.get(path).get_data(as_text=True)
    return re.sub(r'(csrf_token[^>]*value=")[^"]*', r"\1", html)


def _changes(before: list[str], after: list[str]) -> list[str]:
    """The lines that differ between two loads of the same pages."""
    return [
        line
        for old, new in zip(before, after, strict=True)
        for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=0)
        if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))
    ]


def _tree(session: Session, shape: dict[str, str]) -> dict[str, Team]:
    """Acme (the organisation) and groups beneath it; shape maps group → parent's name."""
    teams = {"Acme": Team(name="Acme", kind="organisation")}
    session.add(teams["Acme"])
    for name, parent in shape.items():
        kind = "team" if name not in shape.values() else "department"
        teams[name] = Team(name=name, kind=kind, parent=teams[parent])
        session.add(teams[name])
    session.flush()
    return teams


def _open_cycle(session: Session, period_key: str = "2026-W50") -> Cycle:
    opens = utcnow() - timedelta(days=1)
    return create_cycle(
        session,
        schedule_id=None,
        period_key=period_key,
        sequence=0,
        program="rotating",
        opens_at=opens,
        closes_at=opens + timedelta(days=5),
    )


def _take_part(session: Session, cycle: Cycle, team: Team, count: int) -> None:
    """`count` more of the team's invited people answer, stored as a submit stores it (an
    answered invitation, a response apart from it, the team marked for aggregation), and the
    workers aggregate as they would after it."""
    waiting = session.scalars(
        select(Invitation.id)
        .where(
            Invitation.cycle_id == cycle.id,
            Invitation.team_id == team.id,
            Invitation.answered.is_(False),
        )
        .limit(count)
    ).all()
    assert len(waiting) == count
    session.execute(update(Invitation).where(Invitation.id.in_(waiting)).values(answered=True))
    for _ in waiting:
        session.add(Response(cycle_id=cycle.id, team_id=team.id, submitted_on=utcnow().date()))
    mark_dirty(session, team_id=team.id, cycle_id=cycle.id)
    aggregate_dirty(session, threshold=K)
    session.commit()


def _close(session: Session, cycle: Cycle) -> None:
    """Close the cycle and finalise its figures, as the close task does."""
    close(session, cycle)
    finalise_cycle(session, cycle_id=cycle.id, threshold=K)
    session.commit()


def test_an_open_cycle_shows_participation_only_in_steps_of_ten(
    admin_client: FlaskClient, session: Session
) -> None:
    """One more answer during an open cycle leaves both pages as they were unless it crosses
    a 10 % step: 12 and 13 of 20 (60 % and 65 %) read the same, 14 (70 %) moves a step."""
    teams = _tree(session, {"Crew": "Acme"})
    cycle = _open_cycle(session)
    invite(session, cycle_id=cycle.id, team_id=teams["Crew"].id, count=20)
    _take_part(session, cycle, teams["Crew"], 12)
    paths = (f"/admin/cycles/{cycle.id}", "/admin/cycles")
    before = [_page(admin_client, path) for path in paths]
    _take_part(session, cycle, teams["Crew"], 1)
    after = [_page(admin_client, path) for path in paths]
    assert not _changes(before, after)
    for html in after:
        assert "65%" not in html and "65 %" not in html
        assert "60%" in html  # the step it is in, never the exact rate
    rows = _rows(after[0])
    assert rows["Crew"][0] == "20" and rows["Acme"][0] == "20"
    _take_part(session, cycle, teams["Crew"], 1)
    crossed = [_page(admin_client, path) for path in paths]
    assert all("70%" in html and "60%" not in html for html in crossed)


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
def test_a_closed_cycle_hides_a_small_team_and_the_sibling_that_protects_it(
    admin_client: FlaskClient, session: Session
) -> None:
    """Eng = Small (4 of 6 answered, k - 1) + Big (7 of 9): Eng's count is shown, so Big's
    would give Small's away; both show why they are hidden, and neither count is on the page."""
    teams = _tree(session, {"Eng": "Acme", "Small": "Eng", "Big": "Eng"})
    cycle = _open_cycle(session)
    for name, invited, answering in (("Small", 6, 4), ("Big", 9, 7)):
        invite(session, cycle_id=cycle.id, team_id=teams[name].id, count=invited)
        _take_part(session, cycle, teams[name], answering)
    _close(session, cycle)
    html = _page(admin_client, f"/admin/cycles/{cycle.id}")
    rows = _rows(html)
    assert rows["Small"][-1] == "fewer than 5 responses"
    assert rows["Big"][-1] == "hidden so that a smaller group stays anonymous"
    for name in ("Small", "Big"):
        assert "%" not in rows[name][-1] and not re.search(r"\b[47]\b", rows[name][-1])
    assert rows["Eng"] == ["15", "73%"] and rows["Acme"] == ["15", "73%"]  # 11 of 15
    text = _visible_text(html)
    for hidden in ("67%", "78%", "67 %", "78 %"):  # Small's and Big's own rates
        assert hidden not in html
    for count in ("4", "7"):  # Small's and Big's respondents
        assert not re.search(rf"(?<![\w:.-]){count}(?![\w:.%-])", text), (count, text)
    listing = _rows(_page(admin_client, "/admin/cycles"))
    assert listing["2026-W50"][-3:-1] == ["15", "73%"]


@pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
@pytest.mark.parametrize("answering", [K - 1, K])
def test_a_lone_team_at_k_minus_one_and_at_k(
    admin_client: FlaskClient, session: Session, answering: int
) -> None:
    """A lone team under the organisation: below k nobody's rate is shown, from k both are."""
    teams = _tree(session, {"Solo": "Acme"})
    cycle = _open_cycle(session)
    invite(session, cycle_id=cycle.id, team_id=teams["Solo"].id, count=10)
    _take_part(session, cycle, teams["Solo"], answering)
    _close(session, cycle)
    html = _page(admin_client, f"/admin/cycles/{cycle.id}")
    listing = _page(admin_client, "/admin/cycles")
    rows, cycles = _rows(html), _rows(listing)
    exact = f"{10 * answering}%"
    if answering < K:
        assert rows["Solo"] == ["10", f"fewer than {K} responses"]
        assert rows["Acme"] == ["10", f"fewer than {K} responses"]
        assert cycles["2026-W50"][-2] == f"fewer than {K} responses"
        assert exact not in html and exact not in listing
    else:
        assert rows["Solo"] == ["10", exact] and rows["Acme"] == ["10", exact]
        assert cycles["2026-W50"][-3:-1] == ["10", exact]


def test_the_first_answer_of_a_team_is_not_a_step_of_its_own(
    admin_client: FlaskClient, session: Session
) -> None:
    """B (20 invited) goes from none to one answer: 0 % and 5 % are in the same step, and so are
    Acme's 10 % and 13 %, so the page must not change."""
    teams = _tree(session, {"A": "Acme", "B": "Acme"})
    cycle = _open_cycle(session)
    invite(session, cycle_id=cycle.id, team_id=teams["A"].id, count=10)
    invite(session, cycle_id=cycle.id, team_id=teams["B"].id, count=20)
    _take_part(session, cycle, teams["A"], 3)
    path = f"/admin/cycles/{cycle.id}"
    before = [_page(admin_client, path)]
    _take_part(session, cycle, teams["B"], 1)
    assert not _changes(before, [_page(admin_client, path)])
