"""scim2-server's storage, kept in the database and mirrored onto people and teams.

scim2-server does the protocol (filters, PATCH in the forms Entra and Okta send, ETags,
bulk, paging) over an in-memory storage. This subclass loads the provisioned resources
from the database at the start of each SCIM operation, and writes every change back in the
same transaction as its mirror on the identity side (pulse.provisioning.service). An
organisation's directory is small enough to load per operation; in exchange the web
processes share no state and a restart loses nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Generator
from contextlib import contextmanager
from datetime import date
from typing import Any

from scim2_models import (
    Resource,
    ResourceType,
    ScimProvider,
    UniquenessException,
)
from scim2_server.memory import InMemoryStorage
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from pulse.db import transaction
from pulse.provisioning.models import ProvisionedResource
from pulse.provisioning.service import (
    ProvisioningConflict,
    provision_person,
    provision_team,
    retire_person,
    retire_team,
)


def user_email(user: Any) -> str:
    """Where invitations go: the primary email, else the first, else the userName."""
    emails = list(getattr(user, "emails", None) or [])
    chosen = next((e for e in emails if e.primary and e.value), None) or next(
        (e for e in emails if e.value), None
    )
    return str(chosen.value) if chosen is not None else str(user.user_name or "")


def user_name(user: Any) -> str:
    """The name shown to admins: displayName, else the formatted or composed name."""
    if user.display_name:
        return str(user.display_name)
    name = user.name
    if name is not None:
        if name.formatted:
            return str(name.formatted)
        parts = [p for p in (name.given_name, name.family_name) if p]
        if parts:
            return " ".join(parts)
    return str(user.user_name or "")


class DatabaseStorage(InMemoryStorage):
    """An InMemoryStorage reloaded from, and written through to, the database."""

    def __init__(self, factory: sessionmaker[Session], provider: ScimProvider) -> None:
        super().__init__()
        self.factory = factory
        self.provider = provider
        self._session: Session | None = None

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("SCIM storage used outside an operation")
        return self._session

    def next_version(self) -> str:
        # Random rather than a counter: versions must differ across restarts and processes.
        return f'W/"{uuid.uuid4().hex[:16]}"'

    @contextmanager
    def operation(self) -> Generator[None]:
        with self.lock, transaction(self.factory) as session:
            self._session = session
            try:
                self.resources = self._load(session)
                yield
            finally:
                self._session = None

    def _load(self, session: Session) -> list[Resource[Any]]:
        loaded = []
        for row in session.scalars(select(ProvisionedResource)):
            model = self.provider.model_for(row.resource_type)
            if model is not None:
                loaded.append(model.model_validate(row.body))  # type: ignore[attr-defined]
        return loaded

    # --- writes ---------------------------------------------------------------------------

    def create(self, resource_type: ResourceType, resource: Resource[Any]) -> Resource[Any]:
        stored = super().create(resource_type, self._without_password(resource))
        self._write(resource_type, stored, None)
        return stored

    def update(
        self,
        resource_type: ResourceType,
        resource: Resource[Any],
        *,
        expected_version: str | None = None,
    ) -> Resource[Any]:
        row = self.session.get(ProvisionedResource, resource.id)
        stored = super().update(
            resource_type, self._without_password(resource), expected_version=expected_version
        )
        self._write(resource_type, stored, row)
        return stored

    def delete(
        self,
        resource_type: ResourceType,
        resource_id: str,
        *,
        expected_version: str | None = None,
    ) -> None:
        super().delete(resource_type, resource_id, expected_version=expected_version)
        row = self.session.get(ProvisionedResource, resource_id)
        if row is None:
            return
        if row.resource_type == "User":
            retire_person(self.session, person_id=row.person_id)
        else:
            retire_team(self.session, team_id=row.team_id, today=date.today())
        self.session.delete(row)
        self.session.flush()

    @staticmethod
    def _without_password(resource: Resource[Any]) -> Resource[Any]:
        """Passwords are never kept: people sign in with their own or by SSO."""
        if getattr(resource, "password", None) is not None:
            resource = resource.model_copy(update={"password": None})
        return resource

    def _owned(self, column: Any) -> set[int]:
        return {value for value in self.session.scalars(select(column)) if value is not None}

    def _write(
        self,
        resource_type: ResourceType,
        stored: Resource[Any],
        row: ProvisionedResource | None,
    ) -> None:
        session = self.session
        if row is None:
            row = ProvisionedResource(id=stored.id, resource_type=resource_type.name, body={})
            session.add(row)
        try:
            # The provider's models are composed with their extensions: dispatch on the type.
            if resource_type.name == "User":
                person = provision_person(
                    session,
                    person_id=row.person_id,
                    email=user_email(stored),
                    name=user_name(stored),
                    active=stored.active is not False,
                    owned_person_ids=self._owned(ProvisionedResource.person_id)
                    - {row.person_id or 0},
                )
                row.person_id = person.id
            elif resource_type.name == "Group":
                team = provision_team(
                    session,
                    team_id=row.team_id,
                    name=str(stored.display_name or ""),
                    member_ids=self._member_person_ids(stored),
                    owned_team_ids=self._owned(ProvisionedResource.team_id) - {row.team_id or 0},
                    today=date.today(),
                )
                row.team_id = team.id
        except ProvisioningConflict as exc:
            raise UniquenessException(detail=str(exc)) from None
        row.body = stored.model_dump(mode="json")
        session.flush()

    def _member_person_ids(self, group: Any) -> set[int]:
        ids = [m.value for m in group.members or [] if m.value]
        if not ids:
            return set()
        query = select(ProvisionedResource.person_id).where(
            ProvisionedResource.id.in_(ids), ProvisionedResource.resource_type == "User"
        )
        return {p for p in self.session.scalars(query) if p is not None}
