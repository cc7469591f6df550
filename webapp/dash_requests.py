"""Malformed Dash callback requests answer 400 before Dash reads them.

Dash's `_dash-update-component` indexes the posted JSON as it expects it to be, so a body
that is `null`, `[]`, names an unknown or no output, or sends fewer inputs than the callback
takes raised inside Dash and answered 500 (63 such bodies in one probe). The browser only
ever sends bodies of one shape, derived from the callback map, so anything else is refused
here, by comparing the body with the map: the output is a registered one, the outputs, inputs
and states have the count and the ids and properties the callback was registered with.
Values are not judged here: each callback checks what it receives (and rights on every id).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import dash
from flask import Flask, abort, request

UPDATE_ROUTE = "_dash-update-component"


def _is_prop(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and isinstance(item.get("id"), str)
        and isinstance(item.get("property"), str)
    )


def _matches(sent: Any, registered: list[dict[str, Any]]) -> bool:
    """The inputs (or states) sent are the callback's, in its order."""
    if not isinstance(sent, list) or len(sent) != len(registered):
        return False
    return all(
        _is_prop(item) and item["id"] == want["id"] and item["property"] == want["property"]
        for item, want in zip(sent, registered, strict=True)
    )


def _output_count(output: str) -> int | None:
    # Dash names a multi-output callback "..a.x...b.y.." and a single one "a.x".
    if output.startswith("..") and output.endswith(".."):
        return len(output[2:-2].split("..."))
    return None


def problem(body: Any, callback_map: Mapping[str, Mapping[str, Any]]) -> str | None:
    """Why this body is not one the dashboard's browser code could have sent, or None."""
    if not isinstance(body, dict):
        return "the body is not a JSON object"
    output = body.get("output")
    if not isinstance(output, str) or output not in callback_map:
        return "no such output"
    callback = callback_map[output]
    outputs = body.get("outputs")
    count = _output_count(output)
    if count is None:
        if not _is_prop(outputs):
            return "outputs do not match the callback"
    elif not (isinstance(outputs, list) and len(outputs) == count and all(map(_is_prop, outputs))):
        return "outputs do not match the callback"
    if not _matches(body.get("inputs"), callback.get("inputs", [])):
        return "inputs do not match the callback"
    if not _matches(body.get("state", []), callback.get("state", [])):
        return "state does not match the callback"
    changed = body.get("changedPropIds", [])
    if not isinstance(changed, list) or not all(isinstance(p, str) for p in changed):
        return "changedPropIds is not a list of names"
    return None


def install(server: Flask, dash_app: dash.Dash) -> None:
    """Check every callback request to `dash_app` before Dash dispatches it."""
    route = dash_app.config.requests_pathname_prefix + UPDATE_ROUTE

    @server.before_request
    def _refuse_malformed_callbacks() -> None:
        if request.method != "POST" or request.path != route:
            return
        body = request.get_json(silent=True)
        reason = problem(body, dash_app.callback_map)
        if reason is not None:
            abort(400, description=f"Malformed dashboard request: {reason}.")
