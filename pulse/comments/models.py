"""Replies to comments and the sensitive-word lists.

A reply names its comment and the leader who wrote it (by name, as the issue asks: "with
their name on the reply"), never the comment's writer: no table here, or anywhere, links a
comment to the person who wrote it. The writer finds replies through their own link
(pulse.comments.replies), the only key that leads from a person to their comment, and one
only they hold.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Boolean, Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from pulse.db import Base


class CommentReply(Base):
    """A leader's acknowledgement (a fixed reaction) or reply to one comment.

    `author_name` is copied, not a key to persons: the reply reads as the leader signed it,
    and no foreign key from the comment's side reaches the person table. Only the day is
    kept, like a response's.
    """

    __tablename__ = "comment_replies"

    id: Mapped[int] = mapped_column(primary_key=True)
    comment_id: Mapped[str] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE"), index=True
    )
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"))
    reaction: Mapped[str | None] = mapped_column(String(16), default=None)
    body: Mapped[str | None] = mapped_column(Text, default=None)
    author_name: Mapped[str] = mapped_column(String(200))
    public: Mapped[bool] = mapped_column(Boolean, default=False)
    created_on: Mapped[date] = mapped_column(Date)


class SensitiveWord(Base):
    """One word or phrase of an admin-edited list that flags comments of a category."""

    __tablename__ = "sensitive_words"
    __table_args__ = (UniqueConstraint("category", "phrase"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    category: Mapped[str] = mapped_column(String(32))
    phrase: Mapped[str] = mapped_column(String(100))
