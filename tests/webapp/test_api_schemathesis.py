"""Schemathesis against the API's own OpenAPI document, in process: no 5xx, no schema breach.

Every operation is fuzzed with data that fits the document and with data that does not, with
a valid admin token (every group's figures, hidden ones included) and with none. The cases
are drawn by Hypothesis from schemathesis's strategies rather than through its pytest
plugin, which does not load under pytest 9.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.modes import GenerationMode
from sqlalchemy.orm import Session

from tests.support.api_world import api_token, build_world

MODES = [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]


def _operations(app: Flask) -> list[Any]:
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 7
    return operations


def _fuzz(app: Flask, mode: GenerationMode, headers: dict[str, str], examples: int) -> int:
    """Run each operation's cases; returns how many responses were checked."""
    checked = 0
    for operation in _operations(app):

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck))
        def run(case: Any) -> None:
            nonlocal checked
            header = case.meta.components.get(ParameterLocation.HEADER)
            if header is not None and header.mode == GenerationMode.NEGATIVE:
                # The case's point is its broken Authorization header: send it as it is.
                response = case.call_and_validate()
                assert response.status_code == 401
                checked += 1
                return
            response = case.call_and_validate(headers=headers)
            assert response.status_code < 500
            if not headers:
                assert response.status_code == 401
            checked += 1

        run()
    return checked


@pytest.mark.parametrize("mode", MODES, ids=str)
def test_schemathesis_with_an_admin_token(
    app: Flask, session: Session, mode: GenerationMode
) -> None:
    build_world(session)
    token = api_token(session, "schemathesis")
    assert _fuzz(app, mode, {"Authorization": f"Bearer {token}"}, examples=40) > 50


@pytest.mark.parametrize("mode", MODES, ids=str)
def test_schemathesis_without_a_token(app: Flask, session: Session, mode: GenerationMode) -> None:
    build_world(session)
    assert _fuzz(app, mode, {}, examples=10) > 7
