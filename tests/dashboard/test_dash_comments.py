"""The comments tab (issue 18): masked comments on screen and in the download, themes, and
replies only to comments the leader is shown."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from dashboard import callbacks
from dashboard.access import NOT_AVAILABLE
from pulse.answers.models import Comment, Response
from pulse.comments.models import CommentReply
from pulse.people.models import Person
from tests.dashboard.conftest import World

SAID = "I can't talk to Sam Okafor about this; mail okafor@corp.example or call +44 20 7946 0018"
OTHERS = [
    "Too many meetings without an agenda",
    "Meetings overrun every afternoon",
    "Please cancel the weekly status meeting",
    "Standup meetings take forty minutes",
    "The build is slow and flaky",
    "Thanks for the new laptops",
    "More pairing would help newcomers",
]


def _dumped(component: Any) -> str:
    return json.dumps(component.to_plotly_json(), default=lambda o: o.to_plotly_json())


@pytest.fixture
def leader(make_user: Callable[..., Person], world: World) -> Person:
    return make_user("lead@example.org", role="leader", team="Engineering")


@pytest.fixture
def commented(session: Session, world: World, populate: Callable[..., None]) -> list[str]:
    """Alpha (8 people) answered the last cycle, each with a comment; Sam is in the directory."""
    populate({"alpha": 8, "beta": 9, "gamma": 12, "eng": 17})
    session.add(Person(name="Sam Okafor", email="sam@corp.example"))
    cycle = world.cycles[-1]
    handles = []
    for body in [SAID, *OTHERS]:
        response = Response(
            cycle_id=cycle.id, team_id=world.alpha.id, submitted_on=date(2026, 10, 6)
        )
        session.add(response)
        session.flush()
        comment = Comment(
            response_id=response.id, cycle_id=cycle.id, team_id=world.alpha.id, body=body
        )
        session.add(comment)
        session.flush()
        handles.append(comment.id)
    session.commit()
    return handles


def _masked(text: str) -> None:
    assert "[name]" in text and "[email]" in text and "[phone]" in text
    assert "Okafor" not in text and "okafor@" not in text and "7946" not in text


def test_names_emails_and_phones_are_masked_on_screen_and_in_the_download(
    leader: Person, world: World, commented: list[str], signed_in: Any
) -> None:
    with signed_in(leader):
        shown = _dumped(callbacks.render_comments(str(world.alpha.id), world.cycles[-1].id))
        download = callbacks.download(1, "comments", str(world.alpha.id), world.cycles[-1].id)
    _masked(shown)
    assert "reply-warning" in shown and "identify themselves" in shown
    _masked(download["content"])
    assert download["content"].count("\n") == 1 + len(commented)


def test_a_reply_goes_only_to_a_comment_the_leader_is_shown(
    leader: Person, world: World, commented: list[str], signed_in: Any, session: Session
) -> None:
    cycle = world.cycles[-1].id
    with signed_in(leader):
        forged = callbacks.save_reply(
            1, str(world.gamma.id), cycle, commented[0], "thanks", "", False
        )
        other = callbacks.save_reply(
            1, str(world.alpha.id), cycle, "not-a-handle", "thanks", "", False
        )
        sent = callbacks.save_reply(
            1, str(world.alpha.id), cycle, commented[1], "discuss", "Let's try agendas.", True
        )
        shown = _dumped(callbacks.render_comments(str(world.alpha.id), cycle))
    assert "Choose one of the comments shown" in _dumped(forged)
    assert NOT_AVAILABLE in _dumped(other)
    assert "Sent." in _dumped(sent)
    session.expire_all()
    replies = list(session.scalars(select(CommentReply)))
    assert [(r.comment_id, r.author_name, r.public) for r in replies] == [
        (commented[1], leader.name, True)
    ]
    assert "Let's try agendas." in shown
