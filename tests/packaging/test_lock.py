"""The lock files agree with pyproject.toml: every requirement pinned, at an allowed version.

`make install` (and so CI) installs requirements/dev.lock and the image installs
requirements/runtime.lock, both with --require-hashes: a dependency added to pyproject.toml
but not to the locks would be missing there, and one whose pin falls outside its range would
install a version the project does not accept. `make lock` brings them back in line.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_LOCK = ROOT / "requirements" / "runtime.lock"
DEV_LOCK = ROOT / "requirements" / "dev.lock"
# "name==version \" opens each entry; its hashes follow on lines of their own.
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
# The platform the locks are made for (Makefile's `make lock`): Linux x86_64, CPython 3.11.
TARGET = {"python_version": "3.11", "sys_platform": "linux", "platform_system": "Linux"}


def read_lock(path: Path) -> dict[str, tuple[Version, int]]:
    """Each pinned package: its version and how many hashes it carries."""
    pins: dict[str, tuple[Version, int]] = {}
    current = None
    for line in path.read_text().splitlines():
        found = PIN.match(line)
        if found:
            current = canonicalize_name(found[1])
            assert current not in pins, f"{path.name} pins {current} twice"
            pins[current] = (Version(found[2]), 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
    return pins


def requirements(*, dev: bool) -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    listed = list(project["dependencies"])
    if dev:
        listed += project["optional-dependencies"]["dev"]
    return [Requirement(text) for text in listed]


def disagreements(pins: dict[str, tuple[Version, int]], wanted: list[Requirement]) -> list[str]:
    """What is wrong between a lock and the requirements, in words; empty when they agree."""
    problems = []
    for requirement in wanted:
        if requirement.marker and not requirement.marker.evaluate(TARGET):
            continue
        name = canonicalize_name(requirement.name)
        if name not in pins:
            problems.append(f"{requirement} is not pinned")
            continue
        version, _ = pins[name]
        if not requirement.specifier.contains(version, prereleases=True):
            problems.append(f"{requirement} but the lock pins {version}")
    return problems


@pytest.mark.parametrize(("lock", "dev"), [(RUNTIME_LOCK, False), (DEV_LOCK, True)])
def test_every_requirement_is_pinned_at_an_allowed_version(lock: Path, dev: bool) -> None:
    assert disagreements(read_lock(lock), requirements(dev=dev)) == [], (
        f"{lock.name} disagrees with pyproject.toml: run `make lock`"
    )


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, DEV_LOCK])
def test_every_pin_carries_a_hash(lock: Path) -> None:
    pins = read_lock(lock)
    assert pins
    assert [name for name, (_, hashes) in pins.items() if hashes == 0] == []


def test_the_image_and_the_dev_environment_pin_the_same_versions() -> None:
    runtime, dev = read_lock(RUNTIME_LOCK), read_lock(DEV_LOCK)
    assert set(runtime) <= set(dev)
    assert {name: runtime[name][0] for name in runtime} == {name: dev[name][0] for name in runtime}


def test_the_check_catches_a_missing_pin_and_a_pin_out_of_range() -> None:
    pins = {"flask": (Version("2.3.0"), 2)}
    wanted = [Requirement("flask>=3.0"), Requirement("gunicorn>=22")]
    assert disagreements(pins, wanted) == [
        "flask>=3.0 but the lock pins 2.3.0",
        "gunicorn>=22 is not pinned",
    ]
    assert disagreements({"flask": (Version("3.1.0"), 2)}, wanted[:1]) == []


def _copy_with_fresh_venv(tmp_path: Path) -> Path:
    """A copy of what the Makefile reads, with a venv installed after it; the stamp."""
    for name in ("Makefile", "pyproject.toml"):
        (tmp_path / name).write_bytes((ROOT / name).read_bytes())
    (tmp_path / "requirements").mkdir()
    for lock in (RUNTIME_LOCK, DEV_LOCK):
        (tmp_path / "requirements" / lock.name).write_bytes(lock.read_bytes())
    (tmp_path / ".venv").mkdir()
    stamp = tmp_path / ".venv" / ".installed-stamp"
    stamp.touch()
    later = stamp.stat().st_mtime + 10
    os.utime(stamp, (later, later))
    return stamp


def _install_steps(tree: Path) -> list[str]:
    """The commands `make install` would run there (make -n runs none)."""
    done = subprocess.run(
        ["make", "--no-print-directory", "-n", "install"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return [line for line in done.stdout.splitlines() if "Nothing to be done" not in line]


@pytest.mark.skipif(shutil.which("make") is None, reason="needs make")
def test_make_install_installs_the_dev_lock_with_hashes_then_the_project(tmp_path: Path) -> None:
    stamp = _copy_with_fresh_venv(tmp_path)
    assert _install_steps(tmp_path) == []
    # A changed lock makes the environment stale, as a changed pyproject.toml does.
    later = stamp.stat().st_mtime + 10
    os.utime(tmp_path / "requirements" / "runtime.lock", (later, later))
    assert any("requirements/dev.lock" in step for step in _install_steps(tmp_path))
    os.utime(tmp_path / "requirements" / "dev.lock", (later, later))
    steps = _install_steps(tmp_path)
    locked = [i for i, s in enumerate(steps) if "--require-hashes -r requirements/dev.lock" in s]
    project = [i for i, s in enumerate(steps) if "--no-deps -e ." in s]
    assert len(locked) == 1 and len(project) == 1 and locked[0] < project[0], steps
