"""The answer page end to end: tick → email → link → submit → dirty mark → aggregates."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import timedelta

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from pulse.actions.models import TeamAction
from pulse.answers.models import ActionFeedback, Answer, Comment, Response
from pulse.answers.submit import submit_response
from pulse.db import make_engine, make_session_factory, utcnow
from pulse.delivery.models import Invitation, InvitationLink
from pulse.delivery.tokens import revision_key
from pulse.reporting.models import DirtyTeamCycle, Participation
from pulse.surveys.models import Cycle
from tests.conftest import make_settings
from tests.support.delivery_org import Org, make_org, make_schedule, token_for
from tests.support.smtp import SMTPServer
from webapp import create_app
from webapp.cli import main
from worker.embedded_redis import EmbeddedRedis

TEST_APP = {"TESTING": True, "WTF_CSRF_ENABLED": False, "RATELIMIT_ENABLED": False}
# The submit's writes go out as one batch (a pipeline on PostgreSQL): every path that writes
# (first submit, revision, comment, feedback, refusals) runs on both databases.
BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)


def smtp_env(database_url: str, redis_url: str, port: int) -> dict[str, str]:
    return {
        "PULSE_ENV": "test",
        "PULSE_DATABASE_URL": database_url,
        "PULSE_REDIS_URL": redis_url,
        "PULSE_SECRET_KEY": "test-secret-key-that-is-long-enough-123",
        "PULSE_BASE_URL": "http://127.0.0.1:5000",
        "PULSE_MAIL_BACKEND": "smtp",
        "PULSE_SMTP_HOST": "127.0.0.1",
        "PULSE_SMTP_PORT": str(port),
        "PULSE_SMTP_TLS": "false",
    }


@pytest.fixture
def live(
    database_url: str, redis_server: EmbeddedRedis, smtp_server: SMTPServer
) -> Iterator[tuple[Flask, dict[str, str]]]:
    env = smtp_env(database_url, redis_server.url, smtp_server.port)
    app = create_app({"PULSE": make_settings(database_url, redis_server.url, **env), **TEST_APP})
    yield app, env
    app.extensions["pulse.db"][0].dispose()


def opened_cycle(
    session: Session, env: dict[str, str], smtp_server: SMTPServer, sizes: dict[str, int]
) -> tuple[Org, Cycle]:
    """A schedule due a minute ago, then `pulse tick`: the cycle opens and emails go out."""
    org = make_org(session, sizes)
    now = utcnow()
    make_schedule(
        session,
        org,
        start_date=now.date(),
        weekday=now.weekday(),
        local_hour=now.hour,
        timezone="UTC",
        window_days=3,
        reminder_hours=[],
    )
    result = CliRunner().invoke(main, ["tick", "--now", now.isoformat()], env=env)
    assert result.exit_code == 0, result.output
    assert "opened 1" in result.output
    cycle = session.scalars(select(Cycle)).one()
    assert len(smtp_server.mailbox.messages) == sum(sizes.values())
    return org, cycle


def full_answers(cycle: Cycle, value: str = "4") -> dict[str, str]:
    return {f"item-{ci.item_id}": value for ci in cycle.items}


def count(session: Session, model: type) -> int:
    session.expire_all()
    return session.scalar(select(func.count()).select_from(model)) or 0


@BOTH
def test_email_link_submit_marks_dirty_and_aggregates(
    live: tuple[Flask, dict[str, str]], session: Session, smtp_server: SMTPServer
) -> None:
    app, env = live
    org, cycle = opened_cycle(session, env, smtp_server, {"Alpha": 5})
    client = app.test_client()
    messages = smtp_server.mailbox.messages
    html = messages[0].get_body(("html",)).get_content()
    button = re.search(r'href="(http://[^"]+/s/[^"?]+\?a=(\d+):5)"', html)
    assert button is not None
    path = button.group(1).split("5000", 1)[1]
    page = client.get(path)
    assert page.status_code == 200
    anchor = button.group(2)
    assert re.search(rf'id="item-{anchor}-5" value="5"\s+checked', page.text)
    assert count(session, Response) == 0  # a GET (or a mail scanner) records nothing

    for address in org.emails["Alpha"]:
        token = token_for(messages, address)
        reply = client.post(f"/s/{token}", data={**full_answers(cycle), "comment": "More pairing"})
        assert reply.status_code == 303
    assert count(session, Response) == 5
    assert count(session, Comment) == 5
    assert session.scalar(select(func.count()).where(Invitation.answered.is_(True))) == 5
    dirty = session.execute(select(DirtyTeamCycle.team_id, DirtyTeamCycle.cycle_id)).all()
    assert dirty == [(org.team_ids["Alpha"], cycle.id)]

    from pulse.reporting.aggregation import aggregate_dirty

    aggregate_dirty(session, threshold=5)
    session.commit()
    participation = session.scalars(
        select(Participation).where(
            Participation.team_id == org.team_ids["Alpha"], Participation.cycle_id == cycle.id
        )
    ).one()
    assert (participation.invited, participation.responded) == (5, 5)


def test_the_answer_page_sets_no_cookie_and_its_link_token_guards_the_form(
    database_url: str, redis_server: EmbeddedRedis, smtp_server: SMTPServer, session: Session
) -> None:
    # CSRF protection on, as in production: sign-in forms need their token, the answer form
    # does not, because the secret a forged request lacks is the link token itself.
    env = smtp_env(database_url, redis_server.url, smtp_server.port)
    settings = make_settings(database_url, redis_server.url, **env)
    app = create_app({"PULSE": settings, "TESTING": True, "RATELIMIT_ENABLED": False})
    try:
        org, cycle = opened_cycle(session, env, smtp_server, {"Alpha": 2})
        first, second = (
            token_for(smtp_server.mailbox.messages, address) for address in org.emails["Alpha"]
        )
        page = app.test_client().get(f"/s/{first}")
        assert page.status_code == 200
        assert "Set-Cookie" not in page.headers and "csrf_token" not in page.text
        # A browser that kept nothing from the page (no cookie, no hidden field) can answer.
        fresh = app.test_client()
        reply = fresh.post(f"/s/{second}", data=full_answers(cycle))
        assert reply.status_code == 303 and "Set-Cookie" not in reply.headers
        assert count(session, Response) == 1
        # Without the link token there is nothing to answer, whatever else the request holds.
        assert fresh.post("/s/" + "B" * 43, data=full_answers(cycle)).status_code == 404
        assert count(session, Response) == 1
        # Everywhere else CSRF still applies.
        assert fresh.post("/sign-in", data={"email": "x@example.org"}).status_code == 400
    finally:
        app.extensions["pulse.db"][0].dispose()


@BOTH
def test_revising_keeps_one_response_and_replaces_the_answers(
    live: tuple[Flask, dict[str, str]], session: Session, smtp_server: SMTPServer
) -> None:
    app, env = live
    org, cycle = opened_cycle(session, env, smtp_server, {"Alpha": 1})
    client = app.test_client()
    token = token_for(smtp_server.mailbox.messages, org.emails["Alpha"][0])
    first = {**full_answers(cycle, "2"), "comment": "First thoughts"}
    assert client.post(f"/s/{token}", data=first).status_code == 303
    second = {**full_answers(cycle, "5"), "comment": "Second thoughts"}
    assert client.post(f"/s/{token}", data=second).status_code == 303
    assert count(session, Response) == 1
    assert set(session.scalars(select(Answer.value))) == {5}
    assert list(session.scalars(select(Comment.body))) == ["Second thoughts"]
    page = client.get(f"/s/{token}?saved=1")
    assert "your answers are saved" in page.text
    assert page.text.count("checked") == len(cycle.items)  # the earlier answers, prefilled


def test_response_carries_nothing_that_links_it_to_the_invitation(
    live: tuple[Flask, dict[str, str]], session: Session, smtp_server: SMTPServer
) -> None:
    app, env = live
    org, cycle = opened_cycle(session, env, smtp_server, {"Alpha": 1})
    token = token_for(smtp_server.mailbox.messages, org.emails["Alpha"][0])
    app.test_client().post(f"/s/{token}", data=full_answers(cycle))
    response = session.scalars(select(Response)).one()
    invitation = session.scalars(select(Invitation)).one()
    links = set(session.scalars(select(InvitationLink.token_hash)))
    assert response.revision_key not in {*links, token}
    assert str(invitation.id) != response.id and str(invitation.person_id) != response.id
    columns = set(Response.__table__.columns.keys())
    assert columns == {"id", "cycle_id", "team_id", "submitted_on", "revision_key"}


@BOTH
@pytest.mark.parametrize(("value", "status"), [("6", 422), ("0", 422), ("dk", 422), ("four", 422)])
def test_values_outside_the_scale_are_refused_and_nothing_is_written(
    live: tuple[Flask, dict[str, str]],
    session: Session,
    smtp_server: SMTPServer,
    value: str,
    status: int,
) -> None:
    app, env = live
    org, cycle = opened_cycle(session, env, smtp_server, {"Alpha": 1})
    token = token_for(smtp_server.mailbox.messages, org.emails["Alpha"][0])
    answers = full_answers(cycle)
    answers[f"item-{cycle.items[0].item_id}"] = value
    # Opening the cycle marked its teams for their first participation counts.
    marked = count(session, DirtyTeamCycle)
    reply = app.test_client().post(f"/s/{token}", data=answers)
    assert reply.status_code == status
    assert 'role="alert"' in reply.text
    assert count(session, Response) == 0 and count(session, Answer) == 0
    assert count(session, DirtyTeamCycle) == marked
    assert session.scalars(select(Invitation.answered)).one() is False


def test_unknown_question_ids_are_refused(
    live: tuple[Flask, dict[str, str]], session: Session, smtp_server: SMTPServer
) -> None:
    app, env = live
    org, _cycle = opened_cycle(session, env, smtp_server, {"Alpha": 1})
    token = token_for(smtp_server.mailbox.messages, org.emails["Alpha"][0])
    reply = app.test_client().post(f"/s/{token}", data={"item-999999": "3", "item-x": "3"})
    assert reply.status_code == 422
    assert count(session, Response) == 0


@BOTH
def test_bad_links_get_clear_pages_with_4xx(
    live: tuple[Flask, dict[str, str]], session: Session, smtp_server: SMTPServer
) -> None:
    app, env = live
    org, cycle = opened_cycle(session, env, smtp_server, {"Alpha": 1})
    client = app.test_client()
    malformed = client.get("/s/not-a-token")
    assert malformed.status_code == 400 and "incomplete" in malformed.text
    unknown = client.get("/s/" + "A" * 43)
    assert unknown.status_code == 404 and "recognise" in unknown.text
    assert client.post("/s/" + "A" * 43, data=full_answers(cycle)).status_code == 404
    token = token_for(smtp_server.mailbox.messages, org.emails["Alpha"][0])
    cycle.closes_at = utcnow() - timedelta(seconds=1)  # window over, tick not run yet
    session.commit()
    closed = client.get(f"/s/{token}")
    assert closed.status_code == 410 and "closed" in closed.text
    assert client.post(f"/s/{token}", data=full_answers(cycle)).status_code == 410
    assert count(session, Response) == 0


def test_the_page_is_accessible_without_javascript(
    live: tuple[Flask, dict[str, str]], session: Session, smtp_server: SMTPServer
) -> None:
    app, env = live
    org, cycle = opened_cycle(session, env, smtp_server, {"Alpha": 1})
    token = token_for(smtp_server.mailbox.messages, org.emails["Alpha"][0])
    page = app.test_client().get(f"/s/{token}").text
    assert "<script" not in page
    assert page.count("<fieldset") == len(cycle.items) and page.count("<legend") == len(cycle.items)
    assert 'name="viewport" content="width=device-width' in page
    for radio_id in re.findall(
        r'<input class="form-check-input" type="radio"[^>]* id="([^"]+)"', page
    ):
        assert f'<label class="form-check-label" for="{radio_id}">' in page


@BOTH
def test_actions_since_the_last_pulse_are_shown_and_feedback_is_stored(
    live: tuple[Flask, dict[str, str]], session: Session, smtp_server: SMTPServer
) -> None:
    app, env = live
    org, cycle = opened_cycle(session, env, smtp_server, {"Alpha": 1, "Beta": 1})
    earlier = Cycle(
        schedule_id=cycle.schedule_id,
        period_key="2000-01-01T09:00",
        opens_at=cycle.opens_at - timedelta(days=14),
        closes_at=cycle.opens_at - timedelta(days=11),
        status="closed",
    )
    session.add(earlier)
    mine = TeamAction(
        team_id=org.team_ids["Alpha"], theme="safety", text="Rotate retro facilitator"
    )
    theirs = TeamAction(team_id=org.team_ids["Beta"], theme="ai", text="Beta's own action")
    old = TeamAction(
        team_id=org.team_ids["Alpha"],
        theme="safety",
        text="Long forgotten",
        created_at=cycle.opens_at - timedelta(days=60),
    )
    session.add_all([mine, theirs, old])
    session.commit()
    token = token_for(smtp_server.mailbox.messages, org.emails["Alpha"][0])
    client = app.test_client()
    page = client.get(f"/s/{token}").text
    assert "Rotate retro facilitator" in page
    assert "Beta's own action" not in page and "Long forgotten" not in page
    refused = client.post(
        f"/s/{token}", data={**full_answers(cycle), f"action-{theirs.id}": "helped"}
    )
    assert refused.status_code == 422
    reply = client.post(f"/s/{token}", data={**full_answers(cycle), f"action-{mine.id}": "helped"})
    assert reply.status_code == 303
    feedback = session.execute(select(ActionFeedback.action_id, ActionFeedback.verdict)).all()
    assert feedback == [(mine.id, "helped")]


@BOTH
def test_submits_are_kept_when_redis_is_down(
    database_url: str, session: Session, redis_server: EmbeddedRedis, smtp_server: SMTPServer
) -> None:
    env = smtp_env(database_url, redis_server.url, smtp_server.port)
    org, cycle = opened_cycle(session, env, smtp_server, {"Alpha": 3})
    down = make_settings(database_url, "redis://127.0.0.1:1/0")
    app = create_app({"PULSE": down, **TEST_APP})
    from webapp.survey.queueing import reset_debounce

    reset_debounce()
    client = app.test_client()
    for address in org.emails["Alpha"]:
        token = token_for(smtp_server.mailbox.messages, address)
        assert client.post(f"/s/{token}", data=full_answers(cycle)).status_code == 303
    app.extensions["pulse.db"][0].dispose()
    assert count(session, Response) == 3
    assert count(session, DirtyTeamCycle) == 1  # the sweep finds it later

    from pulse.reporting.aggregation import aggregate_dirty

    assert aggregate_dirty(session, threshold=3) >= 1  # what the periodic sweep runs
    session.commit()
    assert count(session, DirtyTeamCycle) == 0


@BOTH
def test_concurrent_double_submit_gives_one_response(
    live: tuple[Flask, dict[str, str]], session: Session, smtp_server: SMTPServer
) -> None:
    app, env = live
    org, cycle = opened_cycle(session, env, smtp_server, {"Alpha": 1})
    token = token_for(smtp_server.mailbox.messages, org.emails["Alpha"][0])
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def submit(client: FlaskClient) -> None:
        barrier.wait()
        statuses.append(client.post(f"/s/{token}", data=full_answers(cycle)).status_code)

    threads = [threading.Thread(target=submit, args=(app.test_client(),)) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [303] * 4
    assert count(session, Response) == 1
    assert count(session, Answer) == len(cycle.items)


def second_link(session: Session, token: str) -> str:
    """A fresh link to the same invitation, as a reminder email carries."""
    from pulse.delivery.tokens import new_token, token_hash

    invitation_id = session.scalars(
        select(InvitationLink.invitation_id).where(InvitationLink.token_hash == token_hash(token))
    ).one()
    other = new_token()
    session.add(InvitationLink(invitation_id=invitation_id, token_hash=token_hash(other)))
    session.commit()
    return other


@BOTH
def test_a_second_link_of_an_answered_invitation_is_refused_and_writes_nothing(
    live: tuple[Flask, dict[str, str]], session: Session, smtp_server: SMTPServer
) -> None:
    app, env = live
    org, cycle = opened_cycle(session, env, smtp_server, {"Alpha": 1})
    first = token_for(smtp_server.mailbox.messages, org.emails["Alpha"][0])
    reminder = second_link(session, first)
    client = app.test_client()
    assert client.post(f"/s/{first}", data=full_answers(cycle, "2")).status_code == 303
    session.execute(delete(DirtyTeamCycle))  # as if the workers had aggregated since
    session.commit()
    refused = client.post(f"/s/{reminder}", data={**full_answers(cycle, "5"), "comment": "x"})
    assert refused.status_code == 409
    assert count(session, Response) == 1 and count(session, Comment) == 0
    assert count(session, DirtyTeamCycle) == 0  # not even the team is marked again
    assert set(session.scalars(select(Answer.value))) == {2}


@BOTH
def test_two_links_of_one_invitation_submitted_at_once_give_one_response(
    live: tuple[Flask, dict[str, str]], session: Session, smtp_server: SMTPServer
) -> None:
    app, env = live
    org, cycle = opened_cycle(session, env, smtp_server, {"Alpha": 1})
    first = token_for(smtp_server.mailbox.messages, org.emails["Alpha"][0])
    tokens = [first, second_link(session, first)] * 2
    barrier = threading.Barrier(len(tokens))
    statuses: list[int] = []

    def submit(client: FlaskClient, token: str) -> None:
        barrier.wait()
        statuses.append(client.post(f"/s/{token}", data=full_answers(cycle)).status_code)

    threads = [threading.Thread(target=submit, args=(app.test_client(), t)) for t in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # Whichever link wins, its twin submit revises; the other link's two submits are refused.
    assert sorted(statuses) == [303, 303, 409, 409]
    assert count(session, Response) == 1
    assert count(session, Answer) == len(cycle.items)
    assert session.scalars(select(Invitation.answered)).one() is True


@BOTH
def test_every_shape_of_submit_stores_exactly_what_was_sent(
    live: tuple[Flask, dict[str, str]], session: Session, smtp_server: SMTPServer
) -> None:
    """Comment or not, feedback or not, every question answered or some skipped: each shape
    has statements of its own (on PostgreSQL a first submit is one statement), so each is
    checked, first submitted and then revised into the opposite shape."""
    app, env = live
    org, cycle = opened_cycle(session, env, smtp_server, {"Alpha": 8})
    session.add(
        Cycle(
            schedule_id=cycle.schedule_id,
            period_key="2000-01-01T09:00",
            opens_at=cycle.opens_at - timedelta(days=14),
            closes_at=cycle.opens_at - timedelta(days=11),
            status="closed",
        )
    )
    action = TeamAction(team_id=org.team_ids["Alpha"], theme="safety", text="Pair on reviews")
    session.add(action)
    session.commit()
    item_ids = [ci.item_id for ci in cycle.items]
    secret = env["PULSE_SECRET_KEY"]

    def form(shape: int) -> tuple[dict[str, str], dict[int, int | None], str, list[str]]:
        """The posted form for shape 0–7 and the answers, comment and verdicts it should store."""
        comment = f"Comment {shape}" if shape & 1 else ""
        verdicts = ["helped"] if shape & 2 else []
        # Odd positions skipped in the "some skipped" shapes; values differ per shape.
        stored = {
            item: (None if shape & 4 and i % 2 else 1 + (i + shape) % 5)
            for i, item in enumerate(item_ids)
        }
        data = {
            f"item-{item}": "" if value is None else str(value) for item, value in stored.items()
        }
        data["comment"] = comment
        if verdicts:
            data[f"action-{action.id}"] = verdicts[0]
        return data, stored, comment, verdicts

    def stored_for(token: str) -> tuple[dict[int, int | None], str | None, list[str]]:
        session.expire_all()
        response = session.scalars(
            select(Response).where(Response.revision_key == revision_key(secret, token))
        ).one()
        assert (response.cycle_id, response.team_id) == (cycle.id, org.team_ids["Alpha"])
        answers = dict(
            session.execute(
                select(Answer.item_id, Answer.value).where(Answer.response_id == response.id)
            ).all()
        )
        comment = session.scalars(select(Comment).where(Comment.response_id == response.id)).first()
        if comment is not None:
            assert (comment.cycle_id, comment.team_id) == (cycle.id, org.team_ids["Alpha"])
            assert comment.theme == cycle.module
        verdicts = session.scalars(
            select(ActionFeedback.verdict).where(ActionFeedback.response_id == response.id)
        ).all()
        return answers, None if comment is None else comment.body, list(verdicts)

    client = app.test_client()
    tokens = [token_for(smtp_server.mailbox.messages, email) for email in org.emails["Alpha"]]
    for round_ in (0, 1):  # first submits, then each revised into the opposite shape
        for person, token in enumerate(tokens):
            shape = person if round_ == 0 else 7 - person
            data, answers, comment, verdicts = form(shape)
            reply = client.post(f"/s/{token}", data=data)
            assert reply.status_code == 303, (round_, shape, reply.text[:300])
            assert stored_for(token) == (answers, comment or None, verdicts), (round_, shape)
    assert count(session, Response) == len(tokens)
    assert session.scalar(select(func.count()).where(Invitation.answered.is_(True))) == len(tokens)
    dirty = session.execute(select(DirtyTeamCycle.team_id, DirtyTeamCycle.cycle_id)).all()
    assert dirty == [(org.team_ids["Alpha"], cycle.id)]


@BOTH
def test_a_submit_hands_its_connection_back_transactional(
    live: tuple[Flask, dict[str, str]], session: Session, smtp_server: SMTPServer
) -> None:
    """On PostgreSQL a first submit runs without BEGIN (its one statement is a transaction of
    its own). The connection must go back to the pool as it came: the next unit of work on it
    must be a transaction again, or a rollback there would leave its writes in place."""
    app, env = live
    org, cycle = opened_cycle(session, env, smtp_server, {"Alpha": 1})
    token = token_for(smtp_server.mailbox.messages, org.emails["Alpha"][0])
    engine = make_engine(app.config["PULSE"].database_url, pool_size=1, max_overflow=0)
    factory = make_session_factory(engine)
    try:
        with factory() as submitting:
            submit_response(
                submitting,
                token=token,
                secret=app.config["PULSE"].secret_key,
                answers={ci.item_id: "4" for ci in cycle.items},
                comment="",
                feedback={},
                now=utcnow(),
            )
        session.execute(delete(DirtyTeamCycle))
        session.commit()
        with factory() as after:  # the pool's one connection: the submit's
            after.add(DirtyTeamCycle(team_id=org.team_ids["Alpha"], cycle_id=cycle.id))
            after.flush()
            after.rollback()
        assert count(session, DirtyTeamCycle) == 0
        assert count(session, Response) == 1
    finally:
        engine.dispose()
