"""The API's OpenAPI 3.1 document, written by hand beside the views it describes.

tests/webapp/test_api_schemathesis.py holds every response to it, so a view that changes
its output without this document fails there.
"""

from __future__ import annotations

from typing import Any

from webapp.api.access import MAX_ID

_ID = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
_NULLABLE_INT = {"type": ["integer", "null"]}
_NULLABLE_NUMBER = {"type": ["number", "null"]}
_NULLABLE_STRING = {"type": ["string", "null"]}


def _query_id(name: str, description: str, *, required: bool = False) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": required,
        "description": description,
        "schema": _ID,
    }


_TEAM = _query_id("team_id", "One team (with no subtree); default: every team the token sees.")
_CYCLE = _query_id("cycle_id", "One cycle; default: every cycle of the teams.")


def _list_of(key: str, item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": [key],
        "additionalProperties": False,
        "properties": {key: {"type": "array", "items": {"$ref": f"#/components/schemas/{item}"}}},
    }


def _ok(key: str, item: str, description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": _list_of(key, item)}},
    }


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _operation(
    operation_id: str,
    summary: str,
    parameters: list[dict[str, Any]],
    ok: dict[str, Any],
    *,
    bad_input: bool = True,
    not_found: bool = True,
) -> dict[str, Any]:
    responses: dict[str, Any] = {
        "200": ok,
        "401": _error("No live API token was sent."),
        "429": _error("Too many requests for this token; retry after the Retry-After delay."),
    }
    if bad_input:
        responses["400"] = _error("A query argument is malformed or missing.")
    if not_found:
        responses["404"] = _error("The team or cycle is unknown or outside the token's view.")
    return {
        "operationId": operation_id,
        "summary": summary,
        "parameters": parameters,
        "responses": responses,
    }


_THEME_ROW = {
    "type": "object",
    "description": (
        "One group's score on one theme in one cycle. A hidden figure (hidden: true) has no "
        "n, mean, interval, share or change: only its state and the reason in words."
    ),
    "required": ["team_id", "team", "cycle_id", "cycle_opened", "theme", "hidden", "state"],
    "additionalProperties": False,
    "properties": {
        "team_id": {"type": "integer"},
        "team": {"type": "string"},
        "parent": _NULLABLE_STRING,
        "cycle_id": {"type": "integer"},
        "cycle_opened": {"type": "string", "format": "date"},
        "theme": {"type": "string"},
        "n": _NULLABLE_INT,
        "mean": _NULLABLE_NUMBER,
        "ci_low": _NULLABLE_NUMBER,
        "ci_high": _NULLABLE_NUMBER,
        "favourable_pct": _NULLABLE_INT,
        "fav_low": _NULLABLE_INT,
        "fav_high": _NULLABLE_INT,
        "change": {"enum": ["up", "down", None]},
        # What a change test compared (docs/statistics.md); null where none was made.
        "delta": _NULLABLE_NUMBER,
        "delta_low": _NULLABLE_NUMBER,
        "delta_high": _NULLABLE_NUMBER,
        "window_n": _NULLABLE_INT,
        "window_cycles": _NULLABLE_INT,
        "baseline_n": _NULLABLE_INT,
        "baseline_mean": _NULLABLE_NUMBER,
        "baseline_cycles": _NULLABLE_INT,
        "hidden": {"type": "boolean"},
        "state": _NULLABLE_STRING,
        "reason": _NULLABLE_STRING,
    },
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    },
    "Team": {
        "type": "object",
        "required": ["id", "name", "kind", "parent_id", "archived"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "integer"},
            "name": {"type": "string"},
            "kind": {"enum": ["organisation", "department", "team"]},
            "parent_id": _NULLABLE_INT,
            "archived": {"type": "boolean"},
        },
    },
    "Cycle": {
        "type": "object",
        "required": ["id", "opened", "status"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "integer"},
            "opened": {"type": "string", "format": "date"},
            "status": {"type": "string"},
        },
    },
    "ThemeRow": _THEME_ROW,
    "ParticipationRow": {
        "type": "object",
        "description": (
            "Invited and answered of a group in a cycle, each null where it would give away "
            "a hidden group; while a cycle is open only a coarse rate (state 'open')."
        ),
        "required": ["team_id", "team", "cycle_id", "invited", "responded", "rate", "state"],
        "additionalProperties": False,
        "properties": {
            "team_id": {"type": "integer"},
            "team": {"type": "string"},
            "cycle_id": {"type": "integer"},
            "invited": _NULLABLE_INT,
            "responded": _NULLABLE_INT,
            "rate": _NULLABLE_INT,
            "state": _NULLABLE_STRING,
            "reason": _NULLABLE_STRING,
        },
    },
    "ItemRow": {
        "type": "object",
        "description": "Answer distribution of one item version; hidden where the scores are.",
        "required": ["team_id", "cycle_id", "item_code", "theme", "hidden", "state"],
        "additionalProperties": False,
        "properties": {
            "team_id": {"type": "integer"},
            "cycle_id": {"type": "integer"},
            "item_code": {"type": "string"},
            "item_version": {"type": "integer"},
            "wording": {"type": "string"},
            "theme": {"type": "string"},
            "n": _NULLABLE_INT,
            "distribution": {
                "type": ["object", "null"],
                "additionalProperties": {"type": "integer"},
            },
            "top2_pct": _NULLABLE_INT,
            "hidden": {"type": "boolean"},
            "state": _NULLABLE_STRING,
            "reason": _NULLABLE_STRING,
        },
    },
    "Action": {
        "type": "object",
        "required": ["id", "team_id", "theme", "text", "created_at", "feedback"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "integer"},
            "team_id": {"type": "integer"},
            "cycle_id": _NULLABLE_INT,
            "theme": {"type": "string"},
            "text": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "feedback": {
                "type": "object",
                "required": ["respondents", "counts", "hidden"],
                "additionalProperties": False,
                "properties": {
                    "respondents": _NULLABLE_INT,
                    "counts": {
                        "type": ["object", "null"],
                        "additionalProperties": {"type": "integer"},
                    },
                    "hidden": {"type": "boolean"},
                },
            },
        },
    },
}


def document() -> dict[str, Any]:
    """The OpenAPI document of /api/v1."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Team Pulse API",
            "version": "1.0.0",
            "description": (
                "Read-only figures of Team Pulse, exactly what the token's role may see under "
                "the confidentiality rules: an admin token sees every group, a leader token "
                "its team's subtree. Create a token with `pulse tokens create --kind api`."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "paths": {
            "/teams": {
                "get": _operation(
                    "listTeams",
                    "Teams the token may see",
                    [],
                    _ok("teams", "Team", "The teams, departments and organisation."),
                    bad_input=False,
                    not_found=False,
                )
            },
            "/cycles": {
                "get": _operation(
                    "listCycles",
                    "Cycles the teams were surveyed in, newest first",
                    [_TEAM],
                    _ok("cycles", "Cycle", "The cycles."),
                )
            },
            "/themes": {
                "get": _operation(
                    "listThemeScores",
                    "Theme scores per group and cycle",
                    [_TEAM, _CYCLE],
                    _ok("themes", "ThemeRow", "Theme rows, ordered by cycle, group and theme."),
                )
            },
            "/participation": {
                "get": _operation(
                    "listParticipation",
                    "Participation per group and cycle",
                    [_TEAM, _CYCLE],
                    _ok("participation", "ParticipationRow", "Participation rows."),
                )
            },
            "/items": {
                "get": _operation(
                    "listItemDistributions",
                    "Answer distributions per item in one cycle",
                    [_TEAM, _query_id("cycle_id", "The cycle.", required=True)],
                    _ok("items", "ItemRow", "Item rows."),
                )
            },
            "/compare": {
                "get": _operation(
                    "compareTeam",
                    "A team beside its parent, the organisation and the rest of it",
                    [
                        _query_id("team_id", "The team.", required=True),
                        _query_id("cycle_id", "The cycle.", required=True),
                    ],
                    _ok("groups", "ThemeRow", "The team, parent, organisation and the rest."),
                )
            },
            "/actions": {
                "get": _operation(
                    "listActions",
                    "What teams agreed to do, with respondents' verdicts",
                    [_TEAM],
                    _ok("actions", "Action", "Actions, oldest first per team."),
                )
            },
        },
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A token of kind api from `pulse tokens create`.",
                }
            },
            "schemas": SCHEMAS,
        },
    }
