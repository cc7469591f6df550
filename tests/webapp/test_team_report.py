"""The team report page and its PDF: scope, closed cycles only, and the dashboard's hiding."""

from __future__ import annotations

import io
import re
from collections.abc import Callable

import pytest
from flask import Flask, render_template
from flask.testing import FlaskClient
from pypdf import PdfReader
from sqlalchemy.orm import Session
from weasyprint import HTML

from pulse.people.models import Person
from pulse.reporting.queries import item_rows, reverse_worded, theme_rows
from pulse.reporting.wording import REVERSE_NOTE, favourable_pct, is_reverse
from pulse.sharing.report import build_team_report
from tests.conftest import sign_in
from tests.pulse.test_reporting_aggregation import make_cycle
from tests.support.answers import invite
from tests.webapp.report_world import (
    COMMENT,
    OPEN_ACTION,
    OWNED_ACTION,
    K,
    add_actions,
    build_world,
)
from webapp.reports.pdf import BASE_URL, StaticFetcher


def _leader(make_user: Callable[..., Person], team: str = "D1") -> Person:
    return make_user(f"lead-{team.lower()}@example.org", role="leader", team=team)


def _text(html: str) -> str:
    """The page's visible words, tags dropped and spaces folded."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


def test_a_leader_of_another_team_gets_404_and_an_unknown_cycle_too(
    client: FlaskClient, session: Session, make_user: Callable[..., Person]
) -> None:
    world = build_world(session, target_size=K)
    _leader(make_user, "D2")
    sign_in(client, "lead-d2@example.org")
    assert client.get(world.url()).status_code == 404
    assert client.get(world.url(suffix=".pdf")).status_code == 404
    assert client.post(world.url(suffix="/share")).status_code == 404
    # Their own team is fine; a cycle id that is not the team's is not.
    assert client.get(world.url("Other")).status_code == 200
    for cycle_id in (world.cycle.id + 99, 2**31, 2**63):
        other = f"/reports/teams/{world.teams['Other'].id}/cycles/{cycle_id}"
        assert client.get(other).status_code == 404
        assert client.get(other + ".pdf").status_code == 404


def test_signed_out_visitors_are_sent_to_sign_in(client: FlaskClient, session: Session) -> None:
    world = build_world(session, target_size=K)
    response = client.get(world.url())
    assert response.status_code == 302
    assert "/sign-in" in response.headers["Location"]


def test_an_open_cycle_is_refused_with_a_clear_page(
    client: FlaskClient, session: Session, make_user: Callable[..., Person]
) -> None:
    world = build_world(session, target_size=K)
    open_cycle = make_cycle(session, sequence=1, closed=False)
    invite(session, cycle_id=open_cycle.id, team_id=world.target.id, count=3)
    session.commit()
    _leader(make_user)
    sign_in(client, "lead-d1@example.org")
    base = f"/reports/teams/{world.target.id}/cycles/{open_cycle.id}"
    page = client.get(base)
    assert page.status_code == 409
    assert "Results come when the pulse closes" in page.get_data(as_text=True)
    assert client.get(base + ".pdf").status_code == 409
    assert client.post(base + "/share").status_code == 409


@pytest.mark.parametrize("size", [K - 1, K])
def test_the_page_hides_exactly_what_the_dashboard_hides(
    client: FlaskClient, session: Session, make_user: Callable[..., Person], size: int
) -> None:
    world = build_world(session, target_size=size)
    leader = _leader(make_user)
    add_actions(session, world, leader)
    sign_in(client, "lead-d1@example.org")
    html = client.get(world.url()).get_data(as_text=True)
    text = _text(html)
    rows = theme_rows(session, team_ids=[world.target.id], threshold=K, cycle_ids=[world.cycle.id])
    assert {r.theme for r in rows} == {"safety", "learning", "ai"}
    if size < K:
        assert all(r.suppressed for r in rows)
        assert text.count(f"Fewer than {K} responses") >= 3
        assert not re.search(r"\d\.\d 95% interval", text)  # no mean, no interval
        assert not re.search(r"\d, \d+ people|\d answers|% (favourable|concerned): \d", text)
        assert f"{size} of" not in text  # the number who answered is the hidden n
        assert COMMENT not in text
        assert "Strongly agree:" not in text  # no item distribution
        assert "favourable: " not in text  # no item's share either
    else:
        assert not any(r.suppressed for r in rows)
        for row in rows:
            assert (
                f"{row.mean:.1f} 95% interval {row.ci_low:.1f} to {row.ci_high:.1f}, {K} people"
                in text
            )
            assert f"{row.favourable_pct}%" in text
        assert f"{K} of {K + 2} invited answered" in text
        assert COMMENT in text  # the leader's own page keeps comments
        assert "Strongly agree:" in text
        # Reverse-worded items are marked, with their share counted after reverse coding.
        reverse = reverse_worded(session)
        items = item_rows(session, team_ids=[world.target.id], threshold=K, cycle_id=world.cycle.id)
        marked = [i for i in items if is_reverse(i, reverse)]
        assert marked, "the cycle asks reverse-worded items"
        assert text.count(REVERSE_NOTE) == len(marked)
        for item in marked:
            assert f"favourable: {favourable_pct(item, reverse)}%" in text
    # Actions: owner, due date, status; a dropped one is gone.
    assert OWNED_ACTION in text
    assert OPEN_ACTION in text
    assert "An abandoned idea" not in text


def test_the_pdf_renders_the_same_report_without_comments(
    app: Flask, client: FlaskClient, session: Session, make_user: Callable[..., Person]
) -> None:
    world = build_world(session, target_size=K)
    leader = _leader(make_user)
    add_actions(session, world, leader)
    sign_in(client, "lead-d1@example.org")
    response = client.get(world.url(suffix=".pdf"))
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert "attachment" in response.headers["Content-Disposition"]
    pdf = response.get_data()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    # The served PDF, read back: the figures and actions are there, the comments are not.
    pages = PdfReader(io.BytesIO(pdf)).pages
    assert len(pages) >= 1
    served = " ".join(" ".join((page.extract_text() or "").split()) for page in pages)
    assert f"{K} of {K + 2} invited answered" in served
    assert OWNED_ACTION in served
    assert COMMENT not in served
    # The HTML it was made from: the page's report, comments left out, print layout on.
    with app.test_request_context(world.url(suffix=".pdf")):
        report = build_team_report(
            session, team_id=world.target.id, cycle=world.cycle, threshold=K, with_comments=False
        )
        html = render_template("reports/print.html", report=report)
    text = _text(html)
    assert 'class="pulse-report-print"' in html
    assert f"{K} of {K + 2} invited answered" in text
    assert OWNED_ACTION in text
    assert COMMENT not in text and "Comments are not part of this report" in text
    # Rendered with the static folder only: the stylesheets load (the named A4 page applies)
    # and nothing is fetched from anywhere else.
    document = HTML(
        string=html, base_url=BASE_URL, url_fetcher=StaticFetcher(app.static_folder or "")
    ).render()
    assert len(document.pages) >= 1
    width, height = document.pages[0].width, document.pages[0].height
    assert (round(width * 25.4 / 96), round(height * 25.4 / 96)) == (210, 297)  # A4 in mm


def test_the_pdf_fetcher_reads_static_files_and_refuses_everything_else(app: Flask) -> None:
    fetcher = StaticFetcher(app.static_folder or "")
    css = fetcher.fetch(BASE_URL + "static/pulse.css")
    assert b"Team report" in css.read() and css.content_type == "text/css"
    for url in (
        "https://example.org/static/pulse.css",
        BASE_URL + "static/../composition.py",
        BASE_URL + "static/%2e%2e/composition.py",
        BASE_URL + "dashboard/",
        "file:///etc/passwd",
    ):
        with pytest.raises(ValueError):
            fetcher.fetch(url)
