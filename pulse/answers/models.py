"""Responses, answers, comments and action feedback (answer side: no link to any person)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Date, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from pulse.db import Base, random_id

ANSWER_SIDE_TABLES = ("responses", "answers", "comments", "action_feedback")


class Response(Base):
    """One person's answers to one cycle, filed under their team at invitation time.

    The id is random and the only time kept is the day, so neither order nor timestamp can be
    matched against invitations. `revision_key` is a keyed hash of the link token: only someone
    holding the link (and the server's secret) can find the response again to revise it.
    """

    __tablename__ = "responses"
    __table_args__ = (Index("ix_responses_cycle_team", "cycle_id", "team_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=random_id)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    submitted_on: Mapped[date] = mapped_column(Date)
    revision_key: Mapped[str | None] = mapped_column(String(64), unique=True, default=None)

    answers: Mapped[list[Answer]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", passive_deletes=True
    )


class Answer(Base):
    """The value given to one item; None means "don't know" or skipped (never scored)."""

    __tablename__ = "answers"

    response_id: Mapped[str] = mapped_column(
        ForeignKey("responses.id", ondelete="CASCADE"), primary_key=True
    )
    # No index of its own: answers are read by response, never by item (migration 0006).
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"), primary_key=True)
    value: Mapped[int | None] = mapped_column(Integer, default=None)


class Comment(Base):
    """A free-text comment; shown only to groups of at least k, shuffled and undated."""

    __tablename__ = "comments"
    __table_args__ = (Index("ix_comments_cycle_team", "cycle_id", "team_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=random_id)
    response_id: Mapped[str] = mapped_column(
        ForeignKey("responses.id", ondelete="CASCADE"), unique=True
    )
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    theme: Mapped[str | None] = mapped_column(String(16), default=None)
    body: Mapped[str] = mapped_column(Text)


class ActionFeedback(Base):
    """Whether a team action recorded after the last pulse helped, as one respondent saw it."""

    __tablename__ = "action_feedback"

    response_id: Mapped[str] = mapped_column(
        ForeignKey("responses.id", ondelete="CASCADE"), primary_key=True
    )
    action_id: Mapped[int] = mapped_column(
        ForeignKey("team_actions.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    verdict: Mapped[str] = mapped_column(String(12))
