"""One engine per app, one session per app context (request, CLI command or task)."""

from __future__ import annotations

from flask import Flask, current_app, g
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, sessionmaker

from pulse.db import make_engine, make_session_factory


class Database:
    def __init__(self) -> None:
        self._engines: dict[int, tuple[Engine, sessionmaker[Session]]] = {}

    def init_app(self, app: Flask) -> None:
        settings = app.config["PULSE"]
        engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
        app.extensions["pulse.db"] = (engine, make_session_factory(engine))
        app.teardown_appcontext(self._close_session)

    @staticmethod
    def engine_for(app: Flask) -> Engine:
        engine: Engine = app.extensions["pulse.db"][0]
        return engine

    @staticmethod
    def factory_for(app: Flask) -> sessionmaker[Session]:
        factory: sessionmaker[Session] = app.extensions["pulse.db"][1]
        return factory

    @property
    def session(self) -> Session:
        """The current app context's session; whatever was not committed is rolled back."""
        if "pulse_session" not in g:
            g.pulse_session = self.factory_for(current_app)()
        session: Session = g.pulse_session
        return session

    @property
    def engine(self) -> Engine:
        return self.engine_for(current_app)

    @staticmethod
    def _close_session(_exc: BaseException | None) -> None:
        session = g.pop("pulse_session", None)
        if session is not None:
            session.close()
