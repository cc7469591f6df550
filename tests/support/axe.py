"""axe-core for the browser tests: installed from npm by tests/package.json, injected into pages."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

TESTS = Path(__file__).resolve().parents[1]
AXE_JS = TESTS / "node_modules" / "axe-core" / "axe.min.js"
# What the issue holds us to: no critical and no serious violation on any page.
BLOCKING = {"critical", "serious"}


def axe_source(in_ci: bool) -> str:
    """The axe-core script, installed with npm (pinned by tests/package-lock.json) on first use.

    Without npm the check cannot run: a skip on a developer's machine, a failure in CI, so that
    CI never passes without having looked."""
    if not AXE_JS.exists():
        npm = shutil.which("npm")
        if npm is None:
            if in_ci:
                pytest.fail("CI needs npm to install axe-core for the accessibility checks")
            pytest.skip("npm is not installed: cannot fetch axe-core (apt-get install npm)")
        command = [npm, "ci", "--no-audit", "--no-fund", "--prefix", str(TESTS)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0 or not AXE_JS.exists():
            message = f"npm could not install axe-core: {done.stderr[-2000:]}"
            if in_ci:
                pytest.fail(message)
            pytest.skip(message)
    return AXE_JS.read_text(encoding="utf-8")


def axe_violations(page: Any, source: str) -> list[dict[str, Any]]:
    """Run axe on the page as it stands; the critical and serious violations, summarised."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Through the DevTools protocol, not an inline <script>: the app's CSP (rightly)
        # refuses inline scripts it has no hash for. The trailing 0 keeps the completion
        # value from being a function Playwright would call.
        page.evaluate(source + "\n;0")
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
        if v["impact"] in BLOCKING
    ]
