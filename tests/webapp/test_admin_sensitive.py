"""The restricted admin view of sensitive comments (issue 18): lists edited by admins,
flagged comments masked and without their team."""

from __future__ import annotations

from collections.abc import Callable

from flask.testing import FlaskClient
from sqlalchemy.orm import Session

from pulse.people.models import Person
from tests.conftest import sign_in
from tests.pulse.test_comments import _comment, _person, _rebuilt
from tests.pulse.test_reporting_aggregation import make_cycle, make_tree
from tests.pulse.test_reporting_pattern import _answer_all
from tests.support.answers import set_thresholds


def test_admins_edit_the_lists_and_read_flagged_comments_masked(
    client: FlaskClient, session: Session, make_user: Callable[..., Person]
) -> None:
    teams = make_tree(session, {"Team": ("Dept", 0)})
    _person(session, "Sam Okafor", "sam@corp.example")
    set_thresholds(session, scores=3, comments=3)
    cycle = make_cycle(session)
    _answer_all(session, cycle, teams["Team"], 4)
    _comment(session, cycle, teams["Team"], "Sam keeps bullying the new joiners")
    _comment(session, cycle, teams["Team"], "More pairing please")
    _rebuilt(session)
    make_user("admin@example.org")
    sign_in(client, "admin@example.org")
    added = client.post(
        "/admin/comments/sensitive/words",
        data={"operation": "add", "category": "harassment", "phrase": "bullying"},
    )
    assert added.status_code == 302
    page = client.get(f"/admin/comments/sensitive?cycle={cycle.id}").get_data(as_text=True)
    assert "[name] keeps bullying the new joiners" in page
    assert "Okafor" not in page and "More pairing" not in page and ">Team<" not in page
    refused = client.post(
        "/admin/comments/sensitive/words",
        data={"operation": "add", "category": "gossip", "phrase": "x"},
        follow_redirects=True,
    )
    assert "unknown category" in refused.get_data(as_text=True)
