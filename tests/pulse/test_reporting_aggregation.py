"""Aggregation on a real database agrees with the pure scoring rules, and suppresses safely."""

from __future__ import annotations

import random
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pulse.answers.models import Answer
from pulse.instrument import ITEMS_BY_CODE, THEMES
from pulse.reporting import aggregation
from pulse.reporting.aggregation import (
    aggregate_dirty,
    aggregate_team_cycle,
    finalise_cycle,
    rebuild_all,
    rebuild_steps,
)
from pulse.reporting.dirty import mark_dirty
from pulse.reporting.models import DirtyTeamCycle, ItemAggregate, Participation, ThemeAggregate
from pulse.reporting.queries import item_rows, theme_rows
from pulse.scoring import (
    favourable_share,
    person_favourable,
    person_theme_score,
    team_theme_score,
)
from pulse.surveys.cycles import create_cycle
from pulse.surveys.models import Cycle, Schedule
from pulse.teams.models import Team
from tests.support.answers import close, invite, respond, set_thresholds

BOTH = pytest.mark.parametrize("database_url", ["sqlite", "postgresql"], indirect=True)
START = datetime(2026, 1, 5, 9, tzinfo=UTC)


def make_tree(session: Session, sizes: dict[str, tuple[str, int]]) -> dict[str, Team]:
    """An organisation, departments and teams; sizes map team → (department, size)."""
    teams = {"Org": Team(name="Org", kind="organisation")}
    session.add(teams["Org"])
    session.flush()
    for team, (department, _) in sizes.items():
        if department not in teams:
            teams[department] = Team(name=department, kind="department", parent_id=teams["Org"].id)
            session.add(teams[department])
            session.flush()
        teams[team] = Team(name=team, parent_id=teams[department].id)
        session.add(teams[team])
        session.flush()
    return teams


def make_cycle(
    session: Session,
    sequence: int = 0,
    program: str = "full",
    schedule: int | None = None,
    *,
    closed: bool = True,
) -> Cycle:
    """A cycle in the past; closed unless asked for open (an open cycle's results are sealed)."""
    opens = START + timedelta(weeks=2 * sequence)
    cycle = create_cycle(
        session,
        schedule_id=schedule,
        period_key=f"p{sequence}",
        sequence=sequence,
        program=program,
        opens_at=opens,
        closes_at=opens + timedelta(days=5),
    )
    if closed:
        close(session, cycle)
    return cycle


def answer(session: Session, cycle: Cycle, team: Team, values: dict[str, int | None]) -> None:
    ids = {ci.item.code: ci.item_id for ci in cycle.items}
    respond(
        session,
        cycle_id=cycle.id,
        team_id=team.id,
        answers=[Answer(item_id=ids[code], value=v) for code, v in values.items()],
        submitted_on=date(2026, 1, 6),
    )
    mark_dirty(session, team_id=team.id, cycle_id=cycle.id)


def random_answers(rng: random.Random, cycle: Cycle) -> dict[str, int | None]:
    out: dict[str, int | None] = {}
    for ci in cycle.items:
        dont_know = ITEMS_BY_CODE[ci.item.code].allows_dont_know and rng.random() < 0.15
        out[ci.item.code] = None if dont_know or rng.random() < 0.1 else rng.randint(1, 5)
    return out


@BOTH
def test_aggregates_agree_with_the_scoring_rules(session: Session) -> None:
    rng = random.Random(11)
    teams = make_tree(session, {"A": ("D1", 0), "B": ("D1", 0), "C": ("D2", 0)})
    cycle = make_cycle(session)
    given: dict[str, list[dict[str, int | None]]] = defaultdict(list)
    for name, size in (("A", 9), ("B", 6), ("C", 12)):
        for _ in range(size):
            values = random_answers(rng, cycle)
            answer(session, cycle, teams[name], values)
            given[name].append(values)
    session.commit()
    rebuild_all(session, threshold=5)
    session.commit()
    subtree = {
        "A": ["A"],
        "B": ["B"],
        "C": ["C"],
        "D1": ["A", "B"],
        "D2": ["C"],
        "Org": ["A", "B", "C"],
    }
    stored = {(a.team_id, a.theme): a for a in session.scalars(select(ThemeAggregate))}
    for group, members in subtree.items():
        for theme in THEMES:
            asked = [ITEMS_BY_CODE[c.item.code] for c in cycle.items if c.item.theme == theme]
            counted = [
                values
                for m in members
                for values in given[m]
                if person_theme_score(asked, values) is not None
            ]
            scores = [person_theme_score(asked, values) or 0.0 for values in counted]
            expected = team_theme_score(scores)
            # The share counts the answers of the people whose score counts.
            share = favourable_share([person_favourable(asked, values) for values in counted])
            got = stored[(teams[group].id, theme)]
            assert got.n == expected.n
            assert got.mean == pytest.approx(expected.mean)
            assert got.ci_low == pytest.approx(expected.ci_low)
            assert got.ci_high == pytest.approx(expected.ci_high)
            assert got.sd == pytest.approx(expected.sd)
            assert (got.favourable_n, got.answers_n) == (share.favourable, share.answers)
            assert got.favourable_pct == pytest.approx(share.pct)
            assert got.fav_low == pytest.approx(share.low)
            assert got.fav_high == pytest.approx(share.high)
    # Item distributions count raw answers; "don't know" and skipped are not counted.
    anchor = next(ci for ci in cycle.items if ci.item.code == "ai.anchor")
    row = session.scalars(
        select(ItemAggregate).where(
            ItemAggregate.team_id == teams["Org"].id, ItemAggregate.item_id == anchor.item_id
        )
    ).one()
    raw = [v["ai.anchor"] for m in given.values() for v in m if v["ai.anchor"] is not None]
    assert row.n == len(raw)
    assert row.distribution == {str(x): raw.count(x) for x in range(1, 6)}


@BOTH
def test_reverse_items_dont_know_and_the_two_thirds_rule(session: Session) -> None:
    teams = make_tree(session, {"A": ("D", 0)})
    cycle = make_cycle(session)
    # Safety: 6 items; reverse items answered 1 read as 5. Four answered → scored (all 5s).
    for _ in range(5):
        answer(
            session,
            cycle,
            teams["A"],
            {
                "safety.anchor": 5,
                "safety.mistakes": 1,
                "safety.help": 1,
                "safety.inclusion": None,
                "safety.voice": 5,
                "safety.skills": None,
                "ai.anchor": None,
                "ai.replacement": None,
                "ai.skills": None,
                "ai.checking": None,
                "ai.transparency": 2,
                "ai.support": 2,
            },
        )
    # Three of six answered: below two thirds, this person has no safety score.
    answer(session, cycle, teams["A"], {"safety.anchor": 1, "safety.voice": 1, "safety.skills": 1})
    session.commit()
    rebuild_all(session, threshold=5)
    session.commit()
    rows = {r.theme: r for r in theme_rows(session, team_ids={teams["A"].id}, threshold=5)}
    assert rows["safety"].n == 5 and rows["safety"].mean == 5.0
    # AI: only 2 of 6 answered ("don't know" is no answer): nobody is scored, so it is hidden.
    assert rows["ai"].suppressed and rows["ai"].n is None and rows["ai"].mean is None


@BOTH
@pytest.mark.parametrize("k", [3, 5])
def test_threshold_boundary_k_minus_one_and_k(session: Session, k: int) -> None:
    teams = make_tree(session, {"Small": ("D", 0), "Exact": ("D", 0)})
    set_thresholds(session, scores=k)
    cycle = make_cycle(session)
    rng = random.Random(3)
    for name, size in (("Small", k - 1), ("Exact", k)):
        for _ in range(size):
            values = {ci.item.code: rng.randint(1, 5) for ci in cycle.items}
            answer(session, cycle, teams[name], values)
    # Small could have reached k: two more were invited and did not answer.
    invite(session, cycle_id=cycle.id, team_id=teams["Small"].id, count=2)
    session.commit()
    rebuild_all(session, threshold=k)
    session.commit()
    rows = theme_rows(session, team_ids={t.id for t in teams.values()}, threshold=k)
    by = {(r.team, r.theme): r for r in rows}
    for theme in THEMES:
        small, exact, dept = by[("Small", theme)], by[("Exact", theme)], by[("D", theme)]
        assert small.suppressed and small.reason == f"fewer than {k} responses"
        assert (small.n, small.mean, small.ci_low, small.favourable_pct, small.change) == (
            None,
            None,
            None,
            None,
            None,
        )
        # Exact has k, but showing it beside its department would give Small away: the
        # state says so, rather than claiming it had fewer than k.
        assert exact.suppressed and exact.n is None
        assert exact.reason == "hidden so that a smaller group stays anonymous"
        assert not dept.suppressed and dept.n == 2 * k - 1
    items = item_rows(session, team_ids={teams["Small"].id}, threshold=k, cycle_id=cycle.id)
    assert items and all(r.suppressed and r.distribution is None and r.n is None for r in items)


@BOTH
def test_rerun_gives_the_same_rows_and_threshold_applies_on_read(session: Session) -> None:
    teams = make_tree(session, {"A": ("D", 0), "B": ("D", 0)})
    cycle = make_cycle(session)
    rng = random.Random(5)
    for name, size in (("A", 6), ("B", 4)):
        for _ in range(size):
            answer(
                session, cycle, teams[name], {ci.item.code: rng.randint(1, 5) for ci in cycle.items}
            )
    session.commit()

    def snapshot() -> list[tuple[object, ...]]:
        return sorted(
            (a.team_id, a.cycle_id, a.theme, a.n, a.mean, a.ci_low, a.suppressed)
            for a in session.scalars(select(ThemeAggregate))
        )

    rebuild_all(session, threshold=5)
    session.commit()
    first = snapshot()
    rebuild_all(session, threshold=5)
    aggregate_team_cycle(session, team_id=teams["A"].id, cycle_id=cycle.id, threshold=5)
    session.commit()
    assert snapshot() == first
    ids = {t.id for t in teams.values()}
    shown = {r.team for r in theme_rows(session, team_ids=ids, threshold=5) if not r.suppressed}
    assert shown == {"D", "Org"}
    # Lowering k to 3 applies only to cycles opened afterwards: this one keeps its 5.
    shown = {r.team for r in theme_rows(session, team_ids=ids, threshold=3) if not r.suppressed}
    assert shown == {"D", "Org"}
    # Raising it applies on the next read, without re-aggregating: A's 6 can never reach 7.
    rows = {(r.team, r.theme): r for r in theme_rows(session, team_ids=ids, threshold=7)}
    assert rows[("A", "safety")].state == "too_small"
    assert rows[("D", "safety")].n == 10


@BOTH
def test_dirty_marks_are_drained_once(session: Session) -> None:
    teams = make_tree(session, {"A": ("D", 0)})
    cycle = make_cycle(session)
    for _ in range(5):
        # 4 on every item in the scored direction: reverse items answered 2 read as 4.
        values = {ci.item.code: 2 if ci.item.reverse else 4 for ci in cycle.items}
        answer(session, cycle, teams["A"], values)
    session.commit()
    assert aggregate_dirty(session, threshold=5) == 1
    session.commit()
    assert session.scalars(select(DirtyTeamCycle)).all() == []
    assert aggregate_dirty(session, threshold=5) == 0
    rows = theme_rows(session, team_ids={teams["A"].id}, threshold=5)
    assert {r.mean for r in rows} == {4.0} and {r.n for r in rows} == {5}


@BOTH
def test_finalise_flags_a_real_change_only(session: Session) -> None:
    teams = make_tree(session, {"Up": ("D", 0), "Flat": ("D", 0)})
    schedule = Schedule(name="s", program="full", start_date=date(2026, 1, 5))
    session.add(schedule)
    session.flush()
    cycles = [make_cycle(session, sequence=s, schedule=schedule.id) for s in range(2)]
    rng = random.Random(9)
    for index, cycle in enumerate(cycles):
        for _ in range(12):
            base = 2 if index == 0 else 4
            values = {ci.item.code: base + rng.randint(0, 1) for ci in cycle.items}
            answer(
                session,
                cycle,
                teams["Up"],
                {c: (6 - v if ITEMS_BY_CODE[c].reverse else v) for c, v in values.items()},
            )
            flat = {ci.item.code: 3 + rng.randint(0, 1) for ci in cycle.items}
            answer(session, cycle, teams["Flat"], flat)
        cycle.status = "closed"
    session.commit()
    with pytest.raises(ValueError, match="no cycle"):
        finalise_cycle(session, cycle_id=10**6, threshold=5)
    for cycle in cycles:
        finalise_cycle(session, cycle_id=cycle.id, threshold=5)
    session.commit()
    rows = theme_rows(
        session, team_ids={teams["Up"].id, teams["Flat"].id}, threshold=5, cycle_ids=[cycles[1].id]
    )
    changes = {(r.team, r.theme): r.change for r in rows}
    assert all(changes[("Up", theme)] == "up" for theme in THEMES)
    assert all(changes[("Flat", theme)] is None for theme in THEMES)
    assert all(a.final for a in session.scalars(select(ThemeAggregate)))
    # A late answer to a finalised cycle: the run keeps its rows final and its flags decided.
    answer(session, cycles[1], teams["Flat"], {ci.item.code: 3 for ci in cycles[1].items})
    session.commit()
    assert aggregate_dirty(session, threshold=5) == 1
    session.commit()
    session.expire_all()
    rows = theme_rows(
        session, team_ids={teams["Up"].id, teams["Flat"].id}, threshold=5, cycle_ids=[cycles[1].id]
    )
    assert {(r.team, r.theme): r.change for r in rows} == changes
    assert all(a.final for a in session.scalars(select(ThemeAggregate)))


@BOTH
def test_a_rebuild_writes_the_same_rows_in_any_slices_and_reports_every_step(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    teams = make_tree(session, {"A": ("D", 0), "B": ("D", 0)})
    rng = random.Random(8)
    for sequence in range(5):
        cycle = make_cycle(session, sequence=sequence)
        for name in ("A", "B"):
            for _ in range(rng.randint(3, 7)):
                answer(session, cycle, teams[name], random_answers(rng, cycle))
    session.commit()

    def built() -> list[tuple[object, ...]]:
        session.expire_all()
        return sorted(
            (a.team_id, a.cycle_id, a.item_id, a.n, a.mean, a.distribution, a.suppressed)
            for a in session.scalars(select(ItemAggregate))
        ) + sorted(
            (a.team_id, a.cycle_id, a.theme, a.n, a.mean, a.sd, a.change, a.suppressed)
            for a in session.scalars(select(ThemeAggregate))
        )

    steps: list[int] = []
    rebuild_all(session, threshold=5, progress=steps.append)
    session.commit()
    whole = built()
    assert sum(steps) == rebuild_steps(session)
    # One cycle a slice: every slice written alone, into empty tables again.
    for model in (ThemeAggregate, ItemAggregate, Participation):
        session.execute(delete(model))
    session.commit()
    monkeypatch.setattr(aggregation, "_ROWS_PER_SLICE", 1)
    steps.clear()
    rebuild_all(session, threshold=5, progress=steps.append)
    session.commit()
    assert steps == [1] * 6 and sum(steps) == rebuild_steps(session)
    assert built() == whole
