"""The aggregation bench's ceiling: the least SQL that computes and stores the same aggregates.

For the cycles (and groups) a run covers, two INSERT … SELECT statements in one transaction:

- item rows: for every group (each team and each ancestor in the cycle's own tree snapshot,
  cycle_teams) × cycle × item, the answer count, mean, the five-bin distribution and the
  top-2 share;
- theme rows: each response's theme score (reverse-coded mean of its answered items, kept
  when it answered at least two thirds of the items the cycle asked in that theme), then per
  group × cycle × theme the respondent count, the sum and sum of squares of the scores, and
  the favourable and answered counts with the sums of squares and cross products the
  clustered interval needs.

That is every count and sufficient statistic our rows hold, read with the same access path as
our code (the cycle's responses first, then their answers by key), added up per team and
then rolled up the tree, as our code does. It leaves out the work that
is ours alone and cheap per row: the t and Wilson interval bounds, the hiding decision over
the tree, change flags, and comparing with the stored rows. It writes into two scratch tables
(emptied, untimed, before each run), so it neither reads nor disturbs our tables. A check
after the timing compares its counts with the rows our code stored: the same groups, with the
same n, for items and themes alike.
"""

from __future__ import annotations

from sqlalchemy import Engine, text

SCRATCH = (
    "CREATE TABLE ceiling_items (group_id INTEGER, cycle_id INTEGER, item_id INTEGER, "
    "n INTEGER, mean FLOAT, c1 INTEGER, c2 INTEGER, c3 INTEGER, c4 INTEGER, c5 INTEGER, "
    "top2_pct FLOAT)",
    "CREATE TABLE ceiling_themes (group_id INTEGER, cycle_id INTEGER, theme VARCHAR(16), "
    "n INTEGER, score_sum FLOAT, score_sq FLOAT, favourable_n INTEGER, answers_n INTEGER, "
    "favourable_sq INTEGER, favourable_cross INTEGER, answers_sq INTEGER)",
)

# Each response's team and each of its ancestors in the cycle's snapshot (a group's figures
# cover its whole subtree), and the cycle's responses, read once by their cycle index.
_COMMON = """
WITH RECURSIVE up (cycle_id, team_id, group_id) AS (
    SELECT cycle_id, team_id, team_id FROM cycle_teams WHERE {cycles}
    UNION ALL
    SELECT up.cycle_id, up.team_id, ct.parent_id FROM up
    JOIN cycle_teams ct ON ct.cycle_id = up.cycle_id AND ct.team_id = up.group_id
    WHERE ct.parent_id IS NOT NULL
),
wanted AS MATERIALIZED (SELECT * FROM up WHERE {groups}),
r AS MATERIALIZED (SELECT id, cycle_id, team_id FROM responses WHERE {cycles})
"""

# Both statements add up each team's figures first and then roll those sums up to every group
# the team counts in, as our code does: far fewer rows reach the roll-up than answers.
_ITEMS = (
    "INSERT INTO ceiling_items "
    + _COMMON
    + """,
team_items AS (
    SELECT r.cycle_id, r.team_id, a.item_id, COUNT(a.value) AS n, SUM(a.value) AS total,
        SUM(CASE WHEN a.value = 1 THEN 1 ELSE 0 END) AS c1,
        SUM(CASE WHEN a.value = 2 THEN 1 ELSE 0 END) AS c2,
        SUM(CASE WHEN a.value = 3 THEN 1 ELSE 0 END) AS c3,
        SUM(CASE WHEN a.value = 4 THEN 1 ELSE 0 END) AS c4,
        SUM(CASE WHEN a.value = 5 THEN 1 ELSE 0 END) AS c5
    FROM answers a JOIN r ON r.id = a.response_id
    GROUP BY r.cycle_id, r.team_id, a.item_id
)
SELECT w.group_id, t.cycle_id, t.item_id, SUM(t.n),
    CAST(SUM(t.total) AS DOUBLE PRECISION) / NULLIF(SUM(t.n), 0),
    SUM(t.c1), SUM(t.c2), SUM(t.c3), SUM(t.c4), SUM(t.c5),
    CAST(100 * (SUM(t.c4) + SUM(t.c5)) AS DOUBLE PRECISION) / NULLIF(SUM(t.n), 0)
FROM team_items t JOIN wanted w ON w.cycle_id = t.cycle_id AND w.team_id = t.team_id
GROUP BY w.group_id, t.cycle_id, t.item_id
"""
)

_THEMES = (
    "INSERT INTO ceiling_themes "
    + _COMMON
    + """,
asked AS (
    SELECT ci.cycle_id, i.theme, (2 * COUNT(*) + 2) / 3 AS needed
    FROM cycle_items ci JOIN items i ON i.id = ci.item_id GROUP BY ci.cycle_id, i.theme
),
person AS (
    SELECT r.cycle_id, r.team_id, i.theme,
        SUM(CASE WHEN i.reverse THEN 6 - a.value ELSE a.value END) AS recoded,
        COUNT(a.value) AS answered,
        SUM(CASE WHEN (CASE WHEN i.reverse THEN 6 - a.value ELSE a.value END) >= 4
            THEN 1 ELSE 0 END) AS favourable
    FROM answers a JOIN r ON r.id = a.response_id JOIN items i ON i.id = a.item_id
    GROUP BY r.id, r.cycle_id, r.team_id, i.theme
),
scored AS (
    SELECT p.cycle_id, p.team_id, p.theme,
        CAST(p.recoded AS DOUBLE PRECISION) / p.answered AS score, p.answered, p.favourable
    FROM person p JOIN asked q ON q.cycle_id = p.cycle_id AND q.theme = p.theme
    WHERE p.answered > 0 AND p.answered >= q.needed
),
team_themes AS (
    SELECT cycle_id, team_id, theme, COUNT(*) AS n, SUM(score) AS score_sum,
        SUM(score * score) AS score_sq, SUM(favourable) AS f, SUM(answered) AS m,
        SUM(favourable * favourable) AS ff, SUM(favourable * answered) AS fm,
        SUM(answered * answered) AS mm
    FROM scored GROUP BY cycle_id, team_id, theme
)
SELECT w.group_id, t.cycle_id, t.theme, SUM(t.n), SUM(t.score_sum), SUM(t.score_sq),
    SUM(t.f), SUM(t.m), SUM(t.ff), SUM(t.fm), SUM(t.mm)
FROM team_themes t JOIN wanted w ON w.cycle_id = t.cycle_id AND w.team_id = t.team_id
GROUP BY w.group_id, t.cycle_id, t.theme
"""
)


def _where(column: str, values: list[int] | None) -> str:
    return "1 = 1" if values is None else f"{column} IN ({', '.join(map(str, values))})"


def create_scratch(engine: Engine) -> None:
    with engine.begin() as connection:
        for statement in SCRATCH:
            connection.execute(text(statement))


def empty_scratch(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM ceiling_items"))
        connection.execute(text("DELETE FROM ceiling_themes"))


def ceiling(engine: Engine, *, cycles: list[int] | None, groups: list[int] | None) -> None:
    """Compute and store the aggregates of `cycles` (None: all) for `groups` (None: all)."""
    where = {"cycles": _where("cycle_id", cycles), "groups": _where("group_id", groups)}
    with engine.begin() as connection:
        connection.execute(text(_ITEMS.format(**where)))
        connection.execute(text(_THEMES.format(**where)))


def differences(engine: Engine, *, cycles: list[int] | None) -> list[str]:
    """Where the ceiling's rows and ours differ in their groups or n (empty: none)."""
    cycle_filter = _where("cycle_id", cycles)
    pairs = {
        "item": (
            "SELECT group_id, cycle_id, item_id, n FROM ceiling_items",
            f"SELECT team_id, cycle_id, item_id, n FROM item_aggregates WHERE {cycle_filter}",
        ),
        "theme": (
            "SELECT group_id, cycle_id, theme, n FROM ceiling_themes",
            f"SELECT team_id, cycle_id, theme, n FROM theme_aggregates WHERE {cycle_filter}",
        ),
    }
    found = []
    with engine.connect() as connection:
        for kind, (theirs, ours) in pairs.items():
            ceiling_rows = {tuple(row) for row in connection.execute(text(theirs))}
            our_rows = {tuple(row) for row in connection.execute(text(ours))}
            if ceiling_rows != our_rows:
                found.append(
                    f"{kind} rows: {len(ceiling_rows - our_rows)} only in the ceiling, "
                    f"{len(our_rows - ceiling_rows)} only in ours"
                )
    return found
