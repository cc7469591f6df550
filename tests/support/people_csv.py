"""Generating people-import CSV files for tests: good ones, and bad ones with known errors."""

from __future__ import annotations

import csv
import io
import random

DEPARTMENTS = {
    "Engineering": ["Platform", "Payments", "Mobile", "Data"],
    "Product": ["Design", "Research"],
    "Operations": ["Finance", "People Ops"],
}


def people_rows(count: int, *, seed: int = 7, leaders: int = 3) -> list[dict[str, str]]:
    """`count` people spread over the teams above; the first `leaders` rows lead their team."""
    rng = random.Random(seed)
    teams = [(dept, team) for dept, names in DEPARTMENTS.items() for team in names]
    rows = []
    for i in range(count):
        department, team = teams[i % len(teams)] if i < len(teams) else rng.choice(teams)
        rows.append(
            {
                "email": f"person{i:04d}@example.org",
                "name": f"Person {i:04d}",
                "team": team,
                "department": department,
                "role": "leader" if i < leaders else "member",
            }
        )
    return rows


def to_csv(rows: list[dict[str, str]], *, delimiter: str = ",", bom: bool = False) -> bytes:
    """The rows as a UTF-8 CSV file, with the header email,name,team,department,role."""
    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer,
        fieldnames=["email", "name", "team", "department", "role"],
        delimiter=delimiter,
        lineterminator="\r\n",
    )
    writer.writeheader()
    writer.writerows(rows)
    data = buffer.getvalue().encode()
    return b"\xef\xbb\xbf" + data if bom else data


def bad_people_file(count: int = 200) -> tuple[bytes, dict[int, str]]:
    """A file of `count` people with five broken rows; returns it and line → expected reason."""
    rows = people_rows(count)
    rows[9]["email"] = "not-an-email"
    rows[19]["team"] = ""
    rows[29]["email"] = rows[4]["email"].upper()
    rows[39]["role"] = "boss"
    rows[49]["name"] = "  "
    # Line 1 is the header, so row index i sits on line i + 2.
    expected = {
        11: "invalid email",
        21: "missing team",
        31: "duplicate email",
        41: "unknown role",
        51: "missing name",
    }
    return to_csv(rows), expected
