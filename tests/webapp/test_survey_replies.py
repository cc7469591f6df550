"""Replies reach the writer through their own link and nobody else's (issue 18), end to end:
email link → comment → cycle closes → a leader replies → the writer's pages."""

from __future__ import annotations

import random
from datetime import timedelta

from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.comments.replies import reply_to_comment
from pulse.db import utcnow
from pulse.people.models import Person, RoleGrant
from pulse.reporting.aggregation import rebuild_all
from pulse.reporting.queries import comment_rows
from pulse.surveys.models import Cycle
from tests.support.answers import set_thresholds
from tests.support.delivery_org import token_for
from tests.support.smtp import SMTPServer
from tests.webapp.test_survey_answer import full_answers, live, opened_cycle  # noqa: F401
from webapp.cli import main

FRUIT = ["apples", "bananas", "cherries", "dates", "figs"]
REPLY = "Good point about the apples, we will try it"


def test_a_reply_reaches_the_writers_pages_and_nobody_elses(
    live: tuple[Flask, dict[str, str]],  # noqa: F811
    session: Session,
    smtp_server: SMTPServer,
) -> None:
    app, env = live
    set_thresholds(session, scores=5, comments=5)  # locked into the cycle when it opens
    session.commit()
    org, cycle = opened_cycle(session, env, smtp_server, {"Alpha": 5})
    client = app.test_client()
    messages = smtp_server.mailbox.messages
    addresses = org.emails["Alpha"]
    first = [token_for(messages, address) for address in addresses]
    for token, fruit in zip(first, FRUIT, strict=True):
        data = {**full_answers(cycle), "comment": f"We should share {fruit} on Fridays"}
        assert client.post(f"/s/{token}", data=data).status_code == 303
    cycle.closes_at = utcnow() - timedelta(seconds=1)
    cycle.status = "closed"
    session.commit()
    rebuild_all(session, threshold=5)
    session.commit()

    team = org.team_ids["Alpha"]
    leader = Person(name="Lee Leader", email="lee@lead.example")
    session.add(leader)
    session.flush()
    session.add(RoleGrant(person_id=leader.id, role="leader", team_id=team))
    session.flush()
    session.refresh(leader)
    rows = comment_rows(session, team_id=team, cycle_id=cycle.id, threshold=5, rng=random.Random(0))
    (handle,) = [row.handle for row in rows if "apples" in row.body]
    assert handle is not None
    reply_to_comment(
        session,
        actor=leader,
        team_id=team,
        cycle_id=cycle.id,
        handle=handle,
        threshold=5,
        today=utcnow().date(),
        reaction="thanks",
        body=REPLY,
    )
    session.commit()

    # The closed link of the writer shows the reply; the other four links do not.
    pages = [client.get(f"/s/{token}") for token in first]
    assert all(page.status_code == 410 for page in pages)
    assert REPLY in pages[0].text and "Lee Leader" in pages[0].text
    assert not any(REPLY in page.text for page in pages[1:])

    # The next pulse: everyone's page says one comment got an answer; only the writer's own
    # old link, pasted into their new page, shows it.
    later = utcnow() + timedelta(days=7)
    result = CliRunner().invoke(main, ["tick", "--now", later.isoformat()], env=env)
    assert result.exit_code == 0, result.output
    session.expire_all()
    assert len(session.scalars(select(Cycle)).all()) == 2
    second = [token_for(messages, address) for address in addresses]
    assert not set(second) & set(first)
    for token in second:
        page = client.get(f"/s/{token}")
        assert page.status_code == 200
        assert "answered 1 of the comments" in page.text and REPLY not in page.text
    mine = client.post(
        f"/s/{second[0]}/earlier", data={"previous": f"http://127.0.0.1:5000/s/{first[0]}"}
    )
    assert mine.status_code == 200 and REPLY in mine.text
    for own_old, new in zip(first[1:], second[1:], strict=True):
        other = client.post(f"/s/{new}/earlier", data={"previous": own_old})
        assert other.status_code == 200 and REPLY not in other.text
