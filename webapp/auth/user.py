"""The signed-in user as Flask-Login sees it: a snapshot of a Person and their rights."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from flask_login import UserMixin

from pulse.people.models import Person
from webapp.extensions import db


def _password_stamp(person: Person) -> str:
    # Part of the session id: changing the password signs out every other session.
    return hashlib.sha256((person.password_hash or "").encode()).hexdigest()[:16]


@dataclass(frozen=True)
class SignedInUser(UserMixin):  # type: ignore[misc]
    person_id: int
    email: str
    name: str
    is_admin: bool
    led_team_ids: tuple[int, ...] = field(default=())
    stamp: str = ""

    @classmethod
    def of(cls, person: Person) -> SignedInUser:
        return cls(
            person_id=person.id,
            email=person.email,
            name=person.name,
            is_admin=person.is_admin,
            led_team_ids=tuple(person.led_team_ids),
            stamp=_password_stamp(person),
        )

    @property
    def is_leader(self) -> bool:
        return bool(self.led_team_ids)

    @property
    def can_view_dashboard(self) -> bool:
        return self.is_admin or self.is_leader

    def get_id(self) -> str:
        return f"{self.person_id}:{self.stamp}"

    def person(self) -> Person:
        """The Person row in the current session."""
        person = db.session.get(Person, self.person_id)
        assert person is not None
        return person


def load_user(user_id: str) -> SignedInUser | None:
    person_id, _, stamp = user_id.partition(":")
    if not person_id.isdigit():
        return None
    person = db.session.get(Person, int(person_id))
    if person is None or not person.active or person.password_hash is None:
        return None
    user = SignedInUser.of(person)
    return user if user.stamp == stamp else None
