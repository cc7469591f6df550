"""Comments that lead somewhere (issue 18): masking, themes at the comments threshold,
anonymous replies, sensitive-word flags."""

from __future__ import annotations

import random
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.answers.models import Comment, Response
from pulse.comments.masking import Directory, mask
from pulse.comments.replies import (
    ReplyRefused,
    replied_count,
    replies_for_link,
    reply_to_comment,
    shared_replies,
)
from pulse.comments.report import leader_comments
from pulse.comments.sensitive import add_phrase, flagged_comments
from pulse.comments.themes import AI_THEME, find_themes, group_comments
from pulse.delivery.tokens import new_token, revision_key
from pulse.people.models import Person, RoleGrant
from pulse.reporting.aggregation import rebuild_all
from pulse.reporting.queries import comment_rows
from pulse.surveys.models import Cycle
from pulse.teams.models import Team
from tests.pulse.test_reporting_aggregation import make_cycle, make_tree
from tests.pulse.test_reporting_pattern import _answer_all
from tests.support.answers import set_thresholds

SECRET = "test-secret"
SAID = "I can't talk to Sam Okafor about this; mail okafor@corp.example or call +44 20 7946 0018"
MASKED = "I can't talk to [name] about this; mail [email] or call [phone]"

MEETINGS = [
    "Too many meetings without an agenda",
    "Meetings overrun and eat the whole afternoon",
    "Please cancel the weekly status meeting",
    "Standup meetings take forty minutes",
    "Back to back meetings leave no focus time",
    "Meeting invitations flood my calendar",
    "Fewer meetings and more written updates please",
]
AI = [
    "I worry AI will replace my role",
    "Nobody explained the AI rollout plan",
    "Training on the AI tools is missing",
    "AI output is merged without review",
    "Automation targets were set without us",
    "The chatbot gives customers wrong answers",
]


def _person(session: Session, name: str, email: str) -> Person:
    person = Person(name=name, email=email)
    session.add(person)
    session.flush()
    return person


def _leader(session: Session, team: Team, name: str = "Lee Leader") -> Person:
    person = _person(session, name, f"{name.split()[0].lower()}@lead.example")
    session.add(RoleGrant(person_id=person.id, role="leader", team_id=team.id))
    session.flush()
    session.refresh(person)
    return person


def _comment(
    session: Session, cycle: Cycle, team: Team, body: str, token: str | None = None
) -> str:
    """Give one of the team's uncommented responses this comment (and this link's key)."""
    commented = set(session.scalars(select(Comment.response_id)))
    response = next(
        r
        for r in session.scalars(
            select(Response).where(Response.team_id == team.id, Response.cycle_id == cycle.id)
        )
        if r.id not in commented
    )
    if token is not None:
        response.revision_key = revision_key(SECRET, token)
    comment = Comment(
        response_id=response.id, cycle_id=cycle.id, team_id=team.id, theme="safety", body=body
    )
    session.add(comment)
    session.flush()
    return comment.id


def _rebuilt(session: Session, k: int = 3) -> None:
    session.commit()
    rebuild_all(session, threshold=k)
    session.commit()


# --- masking --------------------------------------------------------------------------------


def test_directory_names_emails_and_phones_are_masked() -> None:
    directory = Directory.of(["Sam Okafor", "Priya Patel", "Aoife O'Neil"])
    assert mask(SAID, directory) == MASKED
    assert mask("SAM and priya and PATEL", directory) == "[name] and [name] and [name]"
    assert mask("Aoife O'Neil's review", directory) == "[name]'s review"
    # Whole words only, and numbers that are not phones stay.
    assert mask("Samuel sampled 3 of 5 sprints in 2026", directory) == (
        "Samuel sampled 3 of 5 sprints in 2026"
    )
    assert mask("ring 555-0100", Directory.of([])) == "ring [phone]"
    assert mask("since 2026-11-03 or 03/11/2026", Directory.of([])) == (
        "since 2026-11-03 or 03/11/2026"
    )


# --- the comments threshold at k − 1 and k, masking on the way out ---------------------------


def _world(session: Session) -> tuple[dict[str, Team], Cycle]:
    """Scores at 3, comments at 5 (the layout of test_reporting_kinds): Four (k − 1), Five and
    Nine in D1, Exact (k) alone in D2. Four is hidden, Five with it as its complement."""
    teams = make_tree(
        session, {"Four": ("D1", 0), "Five": ("D1", 0), "Nine": ("D1", 0), "Exact": ("D2", 0)}
    )
    _person(session, "Sam Okafor", "sam@corp.example")
    set_thresholds(session, scores=3, comments=5)
    cycle = make_cycle(session)
    for name, count in (("Four", 4), ("Five", 5), ("Nine", 9), ("Exact", 5)):
        _answer_all(session, cycle, teams[name], count)
    for team, count in (("Four", 4), ("Exact", 5)):
        for i in range(count):
            _comment(session, cycle, teams[team], SAID if i == 0 else MEETINGS[i])
    _rebuilt(session)
    return teams, cycle


def test_comments_at_k_minus_one_and_k_are_hidden_and_shown_masked(session: Session) -> None:
    teams, cycle = _world(session)
    rng = random.Random(0)
    four = comment_rows(session, team_id=teams["Four"].id, cycle_id=cycle.id, threshold=3, rng=rng)
    exact = comment_rows(
        session, team_id=teams["Exact"].id, cycle_id=cycle.id, threshold=3, rng=rng
    )
    assert four == []
    assert len(exact) == 5 and all(row.handle for row in exact)
    assert MASKED in {row.body for row in exact}
    assert not any("Okafor" in row.body or "7946" in row.body for row in exact)
    # D1 shows its 4 comments among 18 people: Five is hidden with Four, so D1 minus Nine
    # is never Four's comments alone.
    d1 = comment_rows(session, team_id=teams["D1"].id, cycle_id=cycle.id, threshold=3, rng=rng)
    five = comment_rows(session, team_id=teams["Five"].id, cycle_id=cycle.id, threshold=3, rng=rng)
    assert len(d1) == 4 and MASKED in {row.body for row in d1} and five == []
    view = leader_comments(
        session, team_id=teams["Four"].id, cycle_id=cycle.id, threshold=3, rng=rng
    )
    assert view.comments == () and view.themes == () and view.k == 5
    assert view.notice is not None and "at least 5" in view.notice


# --- themes ---------------------------------------------------------------------------------


def test_a_theme_of_fewer_than_k_distinct_comments_is_never_shown() -> None:
    k = 5
    shown = find_themes(MEETINGS + AI[: k - 1], min_size=k)
    assert AI_THEME not in {t.label for t in shown}
    shown = find_themes(MEETINGS + AI[:k], min_size=k)
    ai = [t for t in shown if t.label == AI_THEME]
    assert ai and ai[0].count == k and 2 <= len(ai[0].examples) <= 3
    # Five copies of one text are one distinct comment.
    assert AI_THEME not in {t.label for t in find_themes(MEETINGS + [AI[0]] * 6, min_size=k)}


def test_no_theme_below_k_whatever_the_mix() -> None:
    """Random mixes, with repeated texts: every theme shown has at least k distinct comments."""
    rng = random.Random(7)
    pool = [
        *MEETINGS,
        *AI,
        "The build is slow and flaky",
        "Staging environment is always broken",
        "Nobody thanks us for maintenance work",
        "Blame after incidents makes people hide mistakes",
    ]
    for _ in range(40):
        k = rng.randint(3, 7)
        bodies = [rng.choice(pool) for _ in range(rng.randint(0, 30))]
        grouping = group_comments(bodies, min_size=k)
        distinct = {
            words: len({b for b, g in zip(bodies, grouping.labels, strict=True) if g == group})
            for group, words in enumerate(grouping.keywords)
        }
        for theme in find_themes(bodies, min_size=k):
            assert distinct[theme.keywords] >= k
            assert set(theme.examples) <= set(bodies)


def test_leader_themes_follow_the_cycles_comments_threshold(session: Session) -> None:
    teams = make_tree(session, {"Team": ("D", 0)})
    set_thresholds(session, scores=3, comments=5)
    cycle = make_cycle(session)
    _answer_all(session, cycle, teams["Team"], 11)
    for body in MEETINGS + AI[:4]:
        _comment(session, cycle, teams["Team"], body)
    _rebuilt(session)
    view = leader_comments(
        session, team_id=teams["Team"].id, cycle_id=cycle.id, threshold=3, rng=random.Random(1)
    )
    assert len(view.comments) == 11
    labels = {t.label for t in view.themes}
    assert AI_THEME not in labels  # four AI comments, k = 5
    assert all(t.count >= 5 for t in view.themes)


# --- replies --------------------------------------------------------------------------------


def _replies_world(session: Session) -> tuple[dict[str, Team], Cycle, list[str], list[str]]:
    teams = make_tree(session, {"Team": ("D", 0), "Other": ("E", 0)})
    set_thresholds(session, scores=3, comments=3)
    cycle = make_cycle(session)
    _answer_all(session, cycle, teams["Team"], 4)
    _answer_all(session, cycle, teams["Other"], 4)
    tokens = [new_token() for _ in range(4)]
    handles = [
        _comment(session, cycle, teams["Team"], body, token)
        for body, token in zip(MEETINGS[:4], tokens, strict=True)
    ]
    _rebuilt(session)
    return teams, cycle, tokens, handles


def test_a_reply_reaches_the_writers_link_and_nobody_elses(session: Session) -> None:
    teams, cycle, tokens, handles = _replies_world(session)
    leader = _leader(session, teams["Team"])
    reply_to_comment(
        session,
        actor=leader,
        team_id=teams["Team"].id,
        cycle_id=cycle.id,
        handle=handles[0],
        threshold=3,
        today=date(2026, 12, 3),
        reaction="discuss",
        body="Agreed, we will try a meeting-free Wednesday.",
    )
    session.commit()
    mine = replies_for_link(session, secret=SECRET, token=tokens[0])
    assert [(r.reaction, r.body, r.author) for r in mine] == [
        (
            "We will discuss this as a team",
            "Agreed, we will try a meeting-free Wednesday.",
            "Lee Leader",
        )
    ]
    for other in [*tokens[1:], new_token()]:
        assert replies_for_link(session, secret=SECRET, token=other) == []
    # The same link with another server's secret finds nothing either.
    assert replies_for_link(session, secret="another", token=tokens[0]) == []
    # Not public: the team's shared results do not carry it; the count tells everyone alike.
    assert shared_replies(session, team_id=teams["Team"].id, cycle_id=cycle.id) == []
    assert replied_count(session, team_id=teams["Team"].id, cycle_id=cycle.id) == 1
    assert replied_count(session, team_id=teams["Other"].id, cycle_id=cycle.id) == 0


def test_public_replies_go_to_the_team_and_no_other(session: Session) -> None:
    teams, cycle, _tokens, handles = _replies_world(session)
    leader = _leader(session, teams["Team"])
    reply_to_comment(
        session,
        actor=leader,
        team_id=teams["Team"].id,
        cycle_id=cycle.id,
        handle=handles[1],
        threshold=3,
        today=date(2026, 12, 3),
        reaction="acting",
        public=True,
    )
    session.commit()
    shared = shared_replies(session, team_id=teams["Team"].id, cycle_id=cycle.id)
    assert [s.comment for s in shared] == [MEETINGS[1]]
    assert shared_replies(session, team_id=teams["Other"].id, cycle_id=cycle.id) == []


def test_replies_are_refused_where_they_could_identify_or_reach_too_far(
    session: Session,
) -> None:
    teams, cycle, _tokens, handles = _replies_world(session)
    leader = _leader(session, teams["Team"])
    other_leader = _leader(session, teams["Other"], "Olga Other")
    common = {"cycle_id": cycle.id, "threshold": 3, "today": date(2026, 12, 3)}
    with pytest.raises(ReplyRefused):
        reply_to_comment(
            session,
            actor=leader,
            team_id=teams["Team"].id,
            handle=handles[0],
            body="Whoever wrote this, come and see me",
            **common,  # type: ignore[arg-type]
        )
    with pytest.raises(ReplyRefused):
        reply_to_comment(
            session,
            actor=leader,
            team_id=teams["Team"].id,
            handle=handles[0],
            **common,  # type: ignore[arg-type]
        )
    with pytest.raises(PermissionError):  # not a team this leader reads
        reply_to_comment(
            session,
            actor=other_leader,
            team_id=teams["Team"].id,
            handle=handles[0],
            reaction="thanks",
            **common,  # type: ignore[arg-type]
        )
    with pytest.raises(PermissionError):  # a comment this leader is not shown for the team
        reply_to_comment(
            session,
            actor=other_leader,
            team_id=teams["Other"].id,
            handle=handles[0],
            reaction="thanks",
            **common,  # type: ignore[arg-type]
        )


# --- sensitive words ------------------------------------------------------------------------


def test_sensitive_comments_are_flagged_for_admins_only_still_masked(session: Session) -> None:
    teams = make_tree(session, {"Team": ("D", 0)})
    _person(session, "Sam Okafor", "sam@corp.example")
    set_thresholds(session, scores=3, comments=3)
    cycle = make_cycle(session)
    _answer_all(session, cycle, teams["Team"], 4)
    _comment(session, cycle, teams["Team"], "Sam keeps bullying the new joiners")
    _comment(session, cycle, teams["Team"], "The fire exit is blocked by boxes")
    _comment(session, cycle, teams["Team"], "More pairing please")
    _rebuilt(session)
    admin = _person(session, "Ada Admin", "ada@corp.example")
    session.add(RoleGrant(person_id=admin.id, role="admin"))
    session.flush()
    session.refresh(admin)
    leader = _leader(session, teams["Team"])
    assert add_phrase(session, actor=admin, category="harassment", phrase="Bullying")
    assert add_phrase(session, actor=admin, category="safety", phrase="fire  exit")
    assert not add_phrase(session, actor=admin, category="safety", phrase="Fire exit")
    flagged = flagged_comments(
        session, actor=admin, cycle_id=cycle.id, threshold=3, rng=random.Random(0)
    )
    assert sorted((f.categories, f.text) for f in flagged) == [
        (("harassment",), "[name] keeps bullying the new joiners"),
        (("safety",), "The fire exit is blocked by boxes"),
    ]
    with pytest.raises(PermissionError):
        flagged_comments(session, actor=leader, cycle_id=cycle.id, threshold=3, rng=random.Random())
