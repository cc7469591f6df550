"""Aggregates per team (and parent group) × cycle × theme and item, plus participation.

Aggregates are derived from answers and rewritten by every aggregation run, so they carry no
foreign keys: checking each written row's team, cycle and item cost more than writing it. A
trigger on teams, cycles and items (migration 0005) deletes their aggregates with them. Each
row is named by its own key (team, cycle, theme or item), its primary key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Integer,
    String,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column

from pulse.db import Base, UTCDateTime, utcnow


class ThemeAggregate(Base):
    """A group's score on one theme in one cycle; `suppressed` rows must never be shown.

    `suppressed` is decided for the whole cycle at once (primary and complementary
    suppression over the team tree) and holds only under the cycle's SuppressionStamp.
    """

    __tablename__ = "theme_aggregates"

    team_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cycle_id: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    theme: Mapped[str] = mapped_column(String(16), primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
    mean: Mapped[float | None] = mapped_column(Float, default=None)
    sd: Mapped[float | None] = mapped_column(Float, default=None)
    ci_low: Mapped[float | None] = mapped_column(Float, default=None)
    ci_high: Mapped[float | None] = mapped_column(Float, default=None)
    favourable_n: Mapped[int | None] = mapped_column(Integer, default=None)
    favourable_pct: Mapped[float | None] = mapped_column(Float, default=None)
    fav_low: Mapped[float | None] = mapped_column(Float, default=None)
    fav_high: Mapped[float | None] = mapped_column(Float, default=None)
    # The favourable share counts answers (favourable_n of answers_n); the sums over people
    # of favourable², favourable × answers and answers² give its interval, and subtract.
    answers_n: Mapped[int | None] = mapped_column(Integer, default=None)
    favourable_sq: Mapped[int | None] = mapped_column(Integer, default=None)
    favourable_cross: Mapped[int | None] = mapped_column(Integer, default=None)
    answers_sq: Mapped[int | None] = mapped_column(Integer, default=None)
    item_set: Mapped[str] = mapped_column(String(400), default="")
    change: Mapped[str | None] = mapped_column(String(8), default=None)
    change_p: Mapped[float | None] = mapped_column(Float, default=None)
    delta: Mapped[float | None] = mapped_column(Float, default=None)
    # What a change test compared (pulse.change_flags), NULL where no test was made: the
    # window (this cycle and the one before, where shown), the baseline before it, the 95 %
    # interval of the change, and the ids of every other cycle the test read.
    window_n: Mapped[int | None] = mapped_column(Integer, default=None)
    window_cycles: Mapped[int | None] = mapped_column(Integer, default=None)
    baseline_n: Mapped[int | None] = mapped_column(Integer, default=None)
    baseline_mean: Mapped[float | None] = mapped_column(Float, default=None)
    baseline_cycles: Mapped[int | None] = mapped_column(Integer, default=None)
    delta_low: Mapped[float | None] = mapped_column(Float, default=None)
    delta_high: Mapped[float | None] = mapped_column(Float, default=None)
    compared_cycles: Mapped[str | None] = mapped_column(String(400), default=None)
    suppressed: Mapped[bool] = mapped_column(Boolean, default=True)
    final: Mapped[bool] = mapped_column(Boolean, default=False)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ItemAggregate(Base):
    """The distribution of raw answers to one item version for a group in a cycle."""

    __tablename__ = "item_aggregates"

    team_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cycle_id: Mapped[int] = mapped_column(Integer, primary_key=True, index=True)
    item_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    n: Mapped[int] = mapped_column(Integer)
    mean: Mapped[float | None] = mapped_column(Float, default=None)
    distribution: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    top2_pct: Mapped[float | None] = mapped_column(Float, default=None)
    suppressed: Mapped[bool] = mapped_column(Boolean, default=True)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Participation(Base):
    """How many were invited and how many answered, per group and cycle (counts only)."""

    __tablename__ = "participation"

    team_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    cycle_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invited: Mapped[int] = mapped_column(Integer, default=0)
    responded: Mapped[int] = mapped_column(Integer, default=0)
    # Whether the counts are hidden, decided with the rest of the cycle (see SuppressionStamp).
    hidden: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # Whether the number invited is hidden (its own complementary hiding), decided likewise.
    invited_hidden: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SuppressionStamp(Base):
    """The threshold and team tree a cycle's stored `suppressed`/`hidden` flags were decided for.

    Reports trust a cycle's stored flags only while its stamp matches the threshold in force
    and the current tree; otherwise they decide suppression themselves on that read.
    """

    __tablename__ = "suppression_stamps"

    cycle_id: Mapped[int] = mapped_column(
        ForeignKey("cycles.id", ondelete="CASCADE"), primary_key=True
    )
    threshold: Mapped[int] = mapped_column(Integer)
    tree_key: Mapped[str] = mapped_column(String(64))
    # The participation threshold `invited_hidden` holds for (None: not decided).
    participation_threshold: Mapped[int | None] = mapped_column(Integer, default=None)
    # The tree generation read before the trees the flags were decided on, and whether the
    # cycle's snapshot then equalled the teams (pulse.reporting.fast, "The tree generation").
    tree_generation: Mapped[int | None] = mapped_column(Integer, default=None)
    snapshot_current: Mapped[bool | None] = mapped_column(Boolean, default=None)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TreeGeneration(Base):
    """One row counting every write that can change a team tree, kept by database triggers
    (migration 0016; pulse.reporting.fast, "The tree generation")."""

    __tablename__ = "tree_generations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class DirtyTeamCycle(Base):
    """A team × cycle whose aggregates are stale; the debounced task and the sweep drain it."""

    __tablename__ = "dirty_team_cycles"

    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )
    cycle_id: Mapped[int] = mapped_column(
        ForeignKey("cycles.id", ondelete="CASCADE"), primary_key=True
    )
