"""Item versions, schedules, cycles and the items each cycle asks (identity side)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pulse.db import Base, UTCDateTime, utcnow


class Item(Base):
    """One version of a survey item; editing the wording adds a version, never rewrites one."""

    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("code", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    theme: Mapped[str] = mapped_column(String(16))
    construct: Mapped[str] = mapped_column(String(120))
    reverse: Mapped[bool] = mapped_column(Boolean, default=False)
    is_anchor: Mapped[bool] = mapped_column(Boolean, default=False)
    scale: Mapped[str] = mapped_column(String(16))
    wording: Mapped[str] = mapped_column(Text)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    retired_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)


class Schedule(Base):
    """A recurring survey program for some teams (each target includes its subtree)."""

    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    program: Mapped[str] = mapped_column(String(16), default="rotating")
    cadence: Mapped[str] = mapped_column(String(24), default="every_n_weeks")
    interval: Mapped[int] = mapped_column(Integer, default=2)
    weekday: Mapped[int] = mapped_column(Integer, default=0)
    nth: Mapped[int | None] = mapped_column(Integer, default=None)
    local_hour: Mapped[int] = mapped_column(Integer, default=9)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    window_days: Mapped[int] = mapped_column(Integer, default=5)
    reminder_hours: Mapped[list[Any]] = mapped_column(JSON, default=list)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date, default=None)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    targets: Mapped[list[ScheduleTarget]] = relationship(
        cascade="all, delete-orphan", lazy="selectin"
    )


class ScheduleTarget(Base):
    __tablename__ = "schedule_targets"

    schedule_id: Mapped[int] = mapped_column(
        ForeignKey("schedules.id", ondelete="CASCADE"), primary_key=True
    )
    team_id: Mapped[int] = mapped_column(
        ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True
    )


class Cycle(Base):
    """One run of a schedule: opened once per schedule and period (the unique key)."""

    __tablename__ = "cycles"
    __table_args__ = (UniqueConstraint("schedule_id", "period_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    schedule_id: Mapped[int | None] = mapped_column(
        ForeignKey("schedules.id", ondelete="SET NULL"), default=None
    )
    period_key: Mapped[str] = mapped_column(String(40))
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    program: Mapped[str] = mapped_column(String(16), default="rotating")
    module: Mapped[str | None] = mapped_column(String(16), default=None)
    opens_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closes_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    status: Mapped[str] = mapped_column(String(12), default="open", index=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    finalised_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The confidentiality thresholds in force when the cycle opened, by kind. A later raise of
    # a setting applies to the cycle at once; a later lowering only to cycles opened after it.
    # None (cycles opened before thresholds were locked) follows the settings in force.
    k_scores: Mapped[int | None] = mapped_column(Integer, default=None)
    k_participation: Mapped[int | None] = mapped_column(Integer, default=None)
    k_comments: Mapped[int | None] = mapped_column(Integer, default=None)

    items: Mapped[list[CycleItem]] = relationship(
        cascade="all, delete-orphan", order_by="CycleItem.position", lazy="selectin"
    )


class CycleItem(Base):
    __tablename__ = "cycle_items"

    cycle_id: Mapped[int] = mapped_column(
        ForeignKey("cycles.id", ondelete="CASCADE"), primary_key=True
    )
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer)

    item: Mapped[Item] = relationship(lazy="joined")


class CycleTeam(Base):
    """A team as it stood in the tree when the cycle opened: the cycle's snapshot.

    Every figure of the cycle (roll-ups, hiding, comparisons, exports) is computed on these
    rows, forever: later moves, renames and archiving apply to later cycles only. A team that
    joins the tree while the cycle is open is added when its people are invited; a row is
    never changed once written. No foreign key to teams: the snapshot outlives the team.
    """

    __tablename__ = "cycle_teams"

    cycle_id: Mapped[int] = mapped_column(
        ForeignKey("cycles.id", ondelete="CASCADE"), primary_key=True
    )
    team_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(Integer, default=None)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16))
