"""Applying Alembic migrations programmatically (the only way the schema changes)."""

from __future__ import annotations

import site
import sys
import sysconfig
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Where a wheel installs the migrations (pyproject's data-files): under the install prefix.
INSTALLED = Path("share") / "team-pulse" / "migrations"


def migrations_dir() -> Path:
    """The checkout's migrations, or the copy `pip install` put under <prefix>/share.

    The migrations live at the top of the tree in alembic's usual layout, outside the
    packages, so an installed service finds them as data files of the distribution.
    """
    if (PROJECT_ROOT / "pyproject.toml").exists() and (PROJECT_ROOT / "migrations").is_dir():
        return PROJECT_ROOT / "migrations"
    prefixes = [sys.prefix, sysconfig.get_path("data"), site.getuserbase()]
    for prefix in prefixes:
        candidate = Path(prefix) / INSTALLED
        if (candidate / "env.py").exists():
            return candidate
    raise FileNotFoundError(
        f"no migrations found: neither a checkout at {PROJECT_ROOT} nor an install under "
        + ", ".join(prefixes)
    )


def alembic_config(engine: Engine) -> Config:
    # alembic.ini exists only in a checkout (for the `alembic` command); the library needs none.
    ini = PROJECT_ROOT / "alembic.ini"
    config = Config(str(ini)) if ini.exists() else Config()
    config.set_main_option("script_location", str(migrations_dir()))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def _run(engine: Engine, action: str, revision: str) -> None:
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        getattr(command, action)(config, revision)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to `revision`."""
    _run(engine, "upgrade", revision)


def downgrade(engine: Engine, revision: str = "base") -> None:
    """Take the schema down to `revision`."""
    _run(engine, "downgrade", revision)


def pending(engine: Engine) -> bool:
    """Whether the database is behind the newest migration."""
    script = ScriptDirectory.from_config(alembic_config(engine))
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    return set(current) != set(script.get_heads())
