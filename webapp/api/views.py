"""API views: parse and check the arguments, call pulse's reporting queries, return JSON.

Figures come only through pulse.reporting.queries, with the teams the token's role may see
(pulse.teams.service.visible_team_ids), exactly as the dashboard reads them: a hidden figure
arrives here already without its n or mean, and leaves with its state and reason in words.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import func, select
from werkzeug.exceptions import HTTPException

from pulse.actions.service import feedback_summary, list_actions
from pulse.reporting import queries
from pulse.reporting.rows import ItemRow, ParticipationRow, ThemeRow
from pulse.teams.models import Team
from webapp.api.access import ApiCaller, ApiError, current_caller, id_argument, rate_limit
from webapp.api.access import rate_limit_key as _rate_limit_key
from webapp.api.openapi import document
from webapp.extensions import db, limiter

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")
limiter.limit(rate_limit, key_func=_rate_limit_key)(blueprint)

NOT_FOUND = "No such team or cycle among those this token may see."
# The query arguments each view reads: any other is refused, so a misspelt filter cannot
# silently widen an answer to every team.
ARGUMENTS = {
    "api.teams": frozenset(),
    "api.cycles": frozenset({"team_id"}),
    "api.themes": frozenset({"team_id", "cycle_id"}),
    "api.participation": frozenset({"team_id", "cycle_id"}),
    "api.items": frozenset({"team_id", "cycle_id"}),
    "api.compare": frozenset({"team_id", "cycle_id"}),
    "api.actions": frozenset({"team_id"}),
}


@blueprint.before_request
def _known_arguments_only() -> None:
    # Who asks comes first: without a token, the answer is 401 whatever else is wrong.
    if request.endpoint in ARGUMENTS:
        current_caller()
    allowed = ARGUMENTS.get(request.endpoint or "")
    if allowed is None:
        return
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        names = ", ".join(repr(name[:40]) for name in unknown[:3])
        raise ApiError(400, f"Unknown query argument {names}; this view takes {sorted(allowed)}.")


@blueprint.errorhandler(HTTPException)
def _json_error(error: HTTPException) -> tuple[Response, int]:
    code = error.code or 500
    response = jsonify({"error": error.name, "message": error.description or error.name})
    if code == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="pulse-api"'
    return response, code


@blueprint.get("/openapi.json")
@limiter.exempt
def openapi() -> Response:
    """The OpenAPI 3.1 document; public, as it holds no data."""
    return jsonify(document())


def _team(caller: ApiCaller, *, required: bool = False) -> int | None:
    team_id = id_argument("team_id", required=required)
    if team_id is not None and team_id not in caller.team_ids:
        # Unknown and not yours look the same: a token cannot probe which ids exist.
        raise ApiError(404, NOT_FOUND)
    return team_id


def _cycle(team_ids: list[int], *, required: bool = False) -> int | None:
    cycle_id = id_argument("cycle_id", required=required)
    if cycle_id is not None and not (
        team_ids and queries.was_surveyed(db.session, team_ids=team_ids, cycle_id=cycle_id)
    ):
        raise ApiError(404, NOT_FOUND)
    return cycle_id


def _scope(caller: ApiCaller, *, cycle_required: bool = False) -> tuple[list[int], int | None]:
    team_id = _team(caller)
    team_ids = [team_id] if team_id is not None else sorted(caller.team_ids)
    return team_ids, _cycle(team_ids, required=cycle_required)


def theme_json(row: ThemeRow) -> dict[str, Any]:
    data = asdict(row)
    data["cycle_opened"] = row.cycle_opened.isoformat()
    data["hidden"] = data.pop("suppressed")
    return data


def participation_json(row: ParticipationRow) -> dict[str, Any]:
    return asdict(row)


def item_json(row: ItemRow) -> dict[str, Any]:
    data = asdict(row)
    data["hidden"] = data.pop("suppressed")
    if row.distribution is not None:
        data["distribution"] = {str(value): count for value, count in row.distribution.items()}
    return data


@blueprint.get("/teams")
def teams() -> Response:
    """The teams, departments and organisation this token may see."""
    caller = current_caller()
    rows = db.session.execute(
        select(Team.id, Team.name, Team.kind, Team.parent_id, Team.archived_at)
        .where(Team.id.in_(sorted(caller.team_ids)))
        .order_by(func.lower(Team.name), Team.id)
    )
    return jsonify(
        {
            "teams": [
                {
                    "id": team_id,
                    "name": name,
                    "kind": kind,
                    # A parent outside the token's view is not named, not even by id.
                    "parent_id": parent if parent in caller.team_ids else None,
                    "archived": archived is not None,
                }
                for team_id, name, kind, parent, archived in rows
            ]
        }
    )


@blueprint.get("/cycles")
def cycles() -> Response:
    """Cycles the token's teams (or the one asked for) were surveyed in, newest first."""
    caller = current_caller()
    team_id = _team(caller)
    team_ids = [team_id] if team_id is not None else sorted(caller.team_ids)
    found = queries.cycles_for(db.session, team_ids=team_ids)
    return jsonify(
        {
            "cycles": [
                {"id": c.id, "opened": c.opened.isoformat(), "status": c.status} for c in found
            ]
        }
    )


@blueprint.get("/themes")
def themes() -> Response:
    """Theme scores per group and cycle; hidden ones carry only their state and reason."""
    caller = current_caller()
    team_ids, cycle_id = _scope(caller)
    rows = queries.theme_rows(
        db.session,
        team_ids=team_ids,
        threshold=caller.k,
        cycle_ids=None if cycle_id is None else [cycle_id],
    )
    return jsonify({"themes": [theme_json(row) for row in rows]})


@blueprint.get("/participation")
def participation() -> Response:
    """Invited, responded and rate per group and cycle, where they reveal nothing hidden."""
    caller = current_caller()
    team_ids, cycle_id = _scope(caller)
    rows = queries.participation_rows(
        db.session,
        team_ids=team_ids,
        threshold=caller.k,
        cycle_ids=None if cycle_id is None else [cycle_id],
    )
    return jsonify({"participation": [participation_json(row) for row in rows]})


@blueprint.get("/items")
def items() -> Response:
    """Answer distributions per item of one cycle, hidden wherever the group's scores are."""
    caller = current_caller()
    team_ids, cycle_id = _scope(caller, cycle_required=True)
    rows = queries.item_rows(db.session, team_ids=team_ids, threshold=caller.k, cycle_id=cycle_id)
    return jsonify({"items": [item_json(row) for row in rows]})


@blueprint.get("/compare")
def compare() -> Response:
    """A team beside its parent, the organisation and the rest of the organisation."""
    caller = current_caller()
    team_id = _team(caller, required=True)
    assert team_id is not None
    cycle_id = _cycle([team_id], required=True)
    assert cycle_id is not None
    rows = queries.compare_rows(db.session, team_id=team_id, cycle_id=cycle_id, threshold=caller.k)
    return jsonify({"groups": [theme_json(row) for row in rows]})


@blueprint.get("/actions")
def actions() -> Response:
    """What teams agreed to do, with respondents' verdicts where enough gave one."""
    caller = current_caller()
    team_id = _team(caller)
    team_ids = [team_id] if team_id is not None else sorted(caller.team_ids)
    found = [action for team in team_ids for action in list_actions(db.session, team_id=team)]
    summaries = feedback_summary(
        db.session, action_ids=[action.id for action in found], threshold=caller.k
    )
    result = []
    for action in found:
        summary = summaries[action.id]
        result.append(
            {
                "id": action.id,
                "team_id": action.team_id,
                "cycle_id": action.cycle_id,
                "theme": action.theme,
                "text": action.text,
                "created_at": action.created_at.isoformat(),
                "feedback": {
                    "respondents": summary.respondents,
                    "counts": summary.counts,
                    "hidden": summary.suppressed,
                },
            }
        )
    return jsonify({"actions": result})
