"""People import from CSV: validate every row first, then write everything or nothing."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from pulse.organisation.service import get_settings
from pulse.people.models import Person, RoleGrant
from pulse.people.service import AccountError, normalise_email
from pulse.teams.models import Membership, Team

REQUIRED_COLUMNS = ("email", "name", "team")
OPTIONAL_COLUMNS = ("department", "role")
IMPORT_ROLES = ("member", "leader")
MAX_NAME = 200
MAX_TEAM_NAME = 120


@dataclass(frozen=True)
class ImportRow:
    """One valid line of the file, cleaned: lower-case email, stripped names, a known role."""

    line: int
    email: str
    name: str
    team: str
    department: str | None
    role: str


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class ParsedFile:
    rows: list[ImportRow] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class ImportReport:
    """What an import did (or, in a dry run, would do)."""

    rows: int = 0
    people_created: int = 0
    people_updated: int = 0
    people_unchanged: int = 0
    people_deactivated: int = 0
    teams_created: int = 0
    teams_moved: int = 0
    memberships_started: int = 0
    memberships_ended: int = 0
    leaders_granted: int = 0
    leaders_without_password: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, int]:
        return {
            "rows": self.rows,
            "people_created": self.people_created,
            "people_updated": self.people_updated,
            "people_unchanged": self.people_unchanged,
            "people_deactivated": self.people_deactivated,
            "teams_created": self.teams_created,
            "teams_moved": self.teams_moved,
            "memberships_started": self.memberships_started,
            "memberships_ended": self.memberships_ended,
            "leaders_granted": self.leaders_granted,
        }


class ImportRejected(ValueError):
    """The file has errors; nothing was written. `errors` lists each bad line and why."""

    def __init__(self, errors: list[RowError]) -> None:
        self.errors = errors
        shown = "; ".join(str(error) for error in errors[:5])
        more = f" (and {len(errors) - 5} more)" if len(errors) > 5 else ""
        super().__init__(
            f"the file has {len(errors)} error(s), nothing was imported: {shown}{more}"
        )


def _decode(content: bytes | str) -> str:
    if isinstance(content, str):
        return content.removeprefix("\ufeff")
    try:
        # utf-8-sig drops a byte-order mark when there is one and reads plain UTF-8 otherwise.
        return content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = content[: exc.start].count(b"\n") + 1
        raise ImportRejected(
            [RowError(line, 'the file is not UTF-8 text; save it as "CSV UTF-8"')]
        ) from None


def _delimiter(text: str) -> str:
    """Comma or semicolon, read from the header line (spreadsheets in many locales use ;)."""
    header = next((line for line in text.splitlines() if line.strip()), "")
    try:
        return csv.Sniffer().sniff(header, delimiters=",;").delimiter
    except csv.Error:
        return ";" if header.count(";") > header.count(",") else ","


def parse_people_csv(content: bytes | str) -> ParsedFile:
    """Read and validate the whole file; every bad row is reported with its line number."""
    try:
        text = _decode(content)
    except ImportRejected as exc:
        return ParsedFile(errors=exc.errors)
    parsed = ParsedFile()
    # skipinitialspace lets "a ; \"b; c\"" read as quoted: spreadsheets pad around separators.
    reader = csv.reader(
        io.StringIO(text, newline=""), delimiter=_delimiter(text), skipinitialspace=True
    )
    header: list[str] | None = None
    previous_end = 0
    seen_emails: dict[str, int] = {}
    team_departments: dict[str, tuple[str | None, int]] = {}
    departments: dict[str, int] = {}
    try:
        for record in reader:
            line = previous_end + 1
            previous_end = reader.line_num
            cells = [cell.strip() for cell in record]
            if not any(cells):
                continue  # blank lines, or lines of empty cells, carry nothing
            if header is None:
                header = [cell.lower() for cell in cells]
                missing = [column for column in REQUIRED_COLUMNS if column not in header]
                if missing:
                    parsed.errors.append(
                        RowError(line, f"the header lacks the column(s) {', '.join(missing)}")
                    )
                    return parsed
                continue
            values = dict(zip(header, cells, strict=False))
            row, reasons = _check_row(line, values, seen_emails)
            if row is not None:
                reasons += _check_tree(row, team_departments, departments)
            parsed.errors.extend(RowError(line, reason) for reason in reasons)
            if row is not None and not reasons:
                parsed.rows.append(row)
    except csv.Error as exc:
        parsed.errors.append(RowError(reader.line_num, f"the CSV cannot be read here: {exc}"))
    if header is None:
        parsed.errors.append(RowError(1, "the file is empty; it needs a header: email,name,team"))
    _check_names_are_one_kind(parsed, team_departments, departments)
    return parsed


def _check_row(
    line: int, values: dict[str, str], seen_emails: dict[str, int]
) -> tuple[ImportRow | None, list[str]]:
    reasons: list[str] = []
    raw_email = values.get("email", "")
    email = ""
    if not raw_email:
        reasons.append("missing email")
    else:
        try:
            email = normalise_email(raw_email)
        except AccountError:
            reasons.append(f"invalid email {raw_email!r}")
    if email:
        if email in seen_emails:
            reasons.append(f"duplicate email {email} (first on line {seen_emails[email]})")
        else:
            seen_emails[email] = line
    name = " ".join(values.get("name", "").split())
    if not name:
        reasons.append("missing name")
    elif len(name) > MAX_NAME:
        reasons.append(f"name longer than {MAX_NAME} characters")
    team = " ".join(values.get("team", "").split())
    if not team:
        reasons.append("missing team")
    elif len(team) > MAX_TEAM_NAME:
        reasons.append(f"team name longer than {MAX_TEAM_NAME} characters")
    department = " ".join(values.get("department", "").split()) or None
    if department and len(department) > MAX_TEAM_NAME:
        reasons.append(f"department name longer than {MAX_TEAM_NAME} characters")
    role = values.get("role", "").lower() or "member"
    if role not in IMPORT_ROLES:
        reasons.append(f"unknown role {values.get('role')!r} (use member or leader)")
    if reasons:
        return None, reasons
    return ImportRow(line, email, name, team, department, role), []


def _check_tree(
    row: ImportRow,
    team_departments: dict[str, tuple[str | None, int]],
    departments: dict[str, int],
) -> list[str]:
    """A team sits under one department in the whole file, and never under itself."""
    key = row.team.lower()
    if row.department and row.department.lower() == key:
        return [f"team {row.team!r} cannot be its own department"]
    if row.department:
        departments.setdefault(row.department.lower(), row.line)
    known = team_departments.get(key)
    if known is None:
        team_departments[key] = (row.department, row.line)
        return []
    known_department, first_line = known
    if known_department is None and row.department:
        team_departments[key] = (row.department, row.line)
        return []
    if row.department and known_department and known_department.lower() != row.department.lower():
        return [
            f"team {row.team!r} is under department {known_department!r} on line {first_line}, "
            f"here under {row.department!r}"
        ]
    return []


def _check_names_are_one_kind(
    parsed: ParsedFile,
    team_departments: dict[str, tuple[str | None, int]],
    departments: dict[str, int],
) -> None:
    """A name used for a department cannot be a team people join in the same file."""
    for name, line in departments.items():
        if name in team_departments:
            parsed.errors.append(
                RowError(line, f"{name!r} is used both as a department and as a team")
            )
    parsed.errors.sort(key=lambda error: error.line)


class _Tree:
    """The team tree by lower-case name, creating teams and departments as the import needs."""

    def __init__(self, session: Session, report: ImportReport) -> None:
        self.session = session
        self.report = report
        self.by_name = {team.name.lower(): team for team in session.scalars(select(Team))}
        self.root: Team | None = next(
            (t for t in self.by_name.values() if t.kind == "organisation" and t.parent_id is None),
            None,
        )

    def organisation(self) -> Team:
        if self.root is None:
            name = get_settings(self.session).name
            self.root = self.by_name.get(name.lower()) or self._add(name, "organisation", None)
        return self.root

    def _add(self, name: str, kind: str, parent: Team | None) -> Team:
        team = Team(name=name, kind=kind, parent=parent)
        self.session.add(team)
        self.by_name[name.lower()] = team
        self.report.teams_created += 1
        return team

    def department(self, name: str) -> Team:
        return self.by_name.get(name.lower()) or self._add(name, "department", self.organisation())

    def team(self, name: str, department: str | None) -> Team:
        parent = self.department(department) if department else None
        team = self.by_name.get(name.lower())
        if team is None:
            return self._add(name, "team", parent or self.organisation())
        if parent is not None and team.parent is not parent:
            team.parent = parent
            self.report.teams_moved += 1
        return team

    def problems(self, rows: list[ImportRow]) -> list[RowError]:
        """Errors only the database can reveal: archived teams, moves that would make a loop."""
        errors: list[RowError] = []
        for row in rows:
            for name in (row.team, row.department):
                existing = self.by_name.get(name.lower()) if name else None
                if existing is not None and existing.archived_at is not None:
                    errors.append(RowError(row.line, f"team {existing.name!r} is archived"))
            team = self.by_name.get(row.team.lower())
            parent = self.by_name.get(row.department.lower()) if row.department else None
            if team is not None and parent is not None and _is_within(parent, team):
                errors.append(
                    RowError(
                        row.line,
                        f"{row.department!r} is inside {team.name!r}; it cannot become its parent",
                    )
                )
        return errors


def _is_within(team: Team, ancestor: Team) -> bool:
    seen: set[int] = set()
    current: Team | None = team
    while current is not None and id(current) not in seen:
        if current is ancestor:
            return True
        seen.add(id(current))
        current = current.parent
    return False


def import_people(
    session: Session,
    *,
    content: bytes | str,
    on: date,
    deactivate_missing: bool = False,
) -> ImportReport:
    """Validate the file and apply it; raise ImportRejected (nothing written) on any error.

    The caller commits, or rolls back for a dry run: the report is then exactly what a real
    import would have done, because it comes from the same code.
    """
    parsed = parse_people_csv(content)
    if not parsed.ok:
        raise ImportRejected(parsed.errors)
    return apply_rows(session, rows=parsed.rows, on=on, deactivate_missing=deactivate_missing)


def apply_rows(
    session: Session,
    *,
    rows: list[ImportRow],
    on: date,
    deactivate_missing: bool = False,
) -> ImportReport:
    """Create or update people, teams, memberships and leader grants from validated rows."""
    report = ImportReport(rows=len(rows))
    tree = _Tree(session, report)
    problems = tree.problems(rows)
    if problems:
        raise ImportRejected(problems)
    people = {person.email.lower(): person for person in session.scalars(select(Person))}
    open_memberships: dict[int, list[Membership]] = {}
    for membership in session.scalars(select(Membership).where(Membership.ended_on.is_(None))):
        open_memberships.setdefault(membership.person_id, []).append(membership)
    # Two passes: create every team and person first and flush once (ids for all), then
    # memberships and grants; a flush per new row would cost one round trip each.
    placed: list[tuple[ImportRow, Person, Team, bool, bool]] = []
    for row in rows:
        team = tree.team(row.team, row.department)
        person = people.get(row.email)
        changed = False
        if person is None:
            person = Person(email=row.email, name=row.name, active=True)
            session.add(person)
            people[row.email] = person
            report.people_created += 1
            placed.append((row, person, team, False, True))
            continue
        if person.name != row.name:
            person.name = row.name
            changed = True
        if not person.active:
            person.active = True
            changed = True
        placed.append((row, person, team, changed, False))
    session.flush()
    for row, person, team, changed, created in placed:
        changed |= _place(session, person, team, open_memberships, on, report)
        if row.role == "leader":
            if not any(g.role == "leader" and g.team_id == team.id for g in person.roles):
                person.roles.append(RoleGrant(role="leader", team_id=team.id))
                report.leaders_granted += 1
                changed = True
            if person.password_hash is None:
                report.leaders_without_password.append(person.email)
        if created:
            continue
        if changed:
            report.people_updated += 1
        else:
            report.people_unchanged += 1
    if deactivate_missing:
        listed = {row.email for row in rows}
        for email, person in people.items():
            if email not in listed and person.active and not person.is_admin:
                # Deactivated, never deleted: answers live apart and stay in the aggregates.
                person.active = False
                report.people_deactivated += 1
    session.flush()
    return report


def _place(
    session: Session,
    person: Person,
    team: Team,
    open_memberships: dict[int, list[Membership]],
    on: date,
    report: ImportReport,
) -> bool:
    """Make `team` the person's only open membership, ending others dated `on`."""
    current = open_memberships.get(person.id, [])
    if [m.team_id for m in current] == [team.id]:
        return False
    kept = False
    for membership in current:
        if membership.team_id == team.id and not kept:
            kept = True
            continue
        membership.ended_on = on
        report.memberships_ended += 1
    if not kept:
        membership = Membership(person_id=person.id, team_id=team.id, started_on=on)
        session.add(membership)
        report.memberships_started += 1
        current = [membership]
    else:
        current = [m for m in current if m.team_id == team.id][:1]
    open_memberships[person.id] = current
    return True
