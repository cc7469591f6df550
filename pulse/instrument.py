"""The survey instrument as plain data: item bank, answer scales and what each program asks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

THEMES: Final = ("safety", "learning", "ai")
THEME_LABELS: Final[dict[str, str]] = {
    "safety": "Psychological safety",
    "learning": "Learning from failure",
    "ai": "AI adoption concerns",
}
# The AI theme is a concern index: a high score is worse and its favourable share reads
# "% concerned".
THEME_HIGHER_IS_BETTER: Final[dict[str, bool]] = {"safety": True, "learning": True, "ai": False}
FAVOURABLE_LABELS: Final[dict[str, str]] = {
    "safety": "% favourable",
    "learning": "% favourable",
    "ai": "% concerned",
}

ENPS_THEME: Final = "enps"
SCALES: Final = ("agree5", "agree5_dk", "nps")
SCALE_RANGES: Final[dict[str, tuple[int, int]]] = {
    "agree5": (1, 5),
    "agree5_dk": (1, 5),
    "nps": (0, 10),
}
SCALE_LABELS: Final[dict[int, str]] = {
    1: "Strongly disagree",
    2: "Disagree",
    3: "Neither agree nor disagree",
    4: "Agree",
    5: "Strongly agree",
}
DONT_KNOW_LABEL: Final = "Don't know / not applicable"
NPS_LABELS: Final[dict[int, str]] = {0: "Not at all likely", 10: "Extremely likely"}

COMMENT_PROMPT: Final = "What would make this team better? (optional)"

PROGRAMS: Final = ("rotating", "full")
ROTATION: Final = ("safety", "learning", "ai")


@dataclass(frozen=True)
class ItemDefinition:
    """One survey item: what it asks, what it measures and how its answers are scored."""

    code: str
    theme: str
    construct: str
    reverse: bool
    is_anchor: bool
    scale: str
    wording: str
    note: str

    def __post_init__(self) -> None:
        if self.theme not in THEMES and self.theme != ENPS_THEME:
            raise ValueError(f"item {self.code!r}: unknown theme {self.theme!r}")
        if self.scale not in SCALES:
            raise ValueError(f"item {self.code!r}: unknown scale {self.scale!r}")

    @property
    def allows_dont_know(self) -> bool:
        """Whether the item offers a "don't know / not applicable" answer."""
        return self.scale == "agree5_dk"


ITEM_BANK: Final[tuple[ItemDefinition, ...]] = (
    ItemDefinition(
        code="safety.anchor",
        theme="safety",
        construct="interpersonal risk taking",
        reverse=False,
        is_anchor=True,
        scale="agree5",
        wording="On this team it feels safe to take a risk or to put forward a view others may "
        "not like.",
        note="Team psychological safety as a shared belief about interpersonal risk (Edmondson "
        "1999).",
    ),
    ItemDefinition(
        code="safety.mistakes",
        theme="safety",
        construct="mistake tolerance",
        reverse=True,
        is_anchor=False,
        scale="agree5",
        wording="If you get something wrong on this team, it tends to be held against you.",
        note="Mistake tolerance facet of team psychological safety (Edmondson 1999).",
    ),
    ItemDefinition(
        code="safety.voice",
        theme="safety",
        construct="voice",
        reverse=False,
        is_anchor=False,
        scale="agree5",
        wording="People here can bring up problems and bad news openly.",
        note="Raising problems and tough issues, team psychological safety (Edmondson 1999).",
    ),
    ItemDefinition(
        code="safety.help",
        theme="safety",
        construct="help-seeking",
        reverse=True,
        is_anchor=False,
        scale="agree5",
        wording="Asking a teammate for help feels like it could cost me something.",
        note="Help-seeking facet of team psychological safety (Edmondson 1999).",
    ),
    ItemDefinition(
        code="safety.inclusion",
        theme="safety",
        construct="inclusion",
        reverse=True,
        is_anchor=False,
        scale="agree5",
        wording="People on this team sometimes get left out for being different.",
        note="Rejection of difference, team psychological safety (Edmondson 1999).",
    ),
    ItemDefinition(
        code="safety.skills",
        theme="safety",
        construct="valued contribution",
        reverse=False,
        is_anchor=False,
        scale="agree5",
        wording="My particular skills and talents are put to good use and valued here.",
        note="Valued unique contribution, team psychological safety (Edmondson 1999).",
    ),
    ItemDefinition(
        code="learning.anchor",
        theme="learning",
        construct="blameless review",
        reverse=False,
        is_anchor=True,
        scale="agree5",
        wording="When something goes wrong, we look for what in our way of working caused it, "
        "not for someone to blame.",
        note="Blameless, system-focused review of failure within error management culture.",
    ),
    ItemDefinition(
        code="learning.reporting",
        theme="learning",
        construct="error communication",
        reverse=False,
        is_anchor=False,
        scale="agree5",
        wording="On this team, errors get reported openly and early.",
        note="Error communication, error management culture (van Dyck et al. 2005).",
    ),
    ItemDefinition(
        code="learning.sharing",
        theme="learning",
        construct="knowledge sharing",
        reverse=False,
        is_anchor=False,
        scale="agree5",
        wording="What we learn from an experiment that failed reaches people beyond those who "
        "ran it.",
        note="Sharing lessons from errors and team learning behaviour (van Dyck et al. 2005; "
        "Edmondson).",
    ),
    ItemDefinition(
        code="learning.helping",
        theme="learning",
        construct="helping",
        reverse=False,
        is_anchor=False,
        scale="agree5",
        wording="When someone slips up, others pitch in to put it right.",
        note="Helping in error situations, error management culture (van Dyck et al. 2005).",
    ),
    ItemDefinition(
        code="learning.experiments",
        theme="learning",
        construct="experiment design",
        reverse=False,
        is_anchor=False,
        scale="agree5",
        wording="Before we run an experiment we say what we expect to learn, and we keep it small.",
        note="Intelligent failure: small, hypothesis-driven experiments.",
    ),
    ItemDefinition(
        code="learning.hiding",
        theme="learning",
        construct="covering up",
        reverse=True,
        is_anchor=False,
        scale="agree5",
        wording="People here keep their mistakes quiet so they don't look bad.",
        note="Covering up errors, the inverse of error management culture (van Dyck et al. 2005).",
    ),
    ItemDefinition(
        code="ai.anchor",
        theme="ai",
        construct="overall AI anxiety",
        reverse=False,
        is_anchor=True,
        scale="agree5_dk",
        wording="All things considered, the way AI is going to change my work worries me.",
        note="Overall AI anxiety about one's own work (Wang & Wang 2019).",
    ),
    ItemDefinition(
        code="ai.replacement",
        theme="ai",
        construct="job replacement",
        reverse=False,
        is_anchor=False,
        scale="agree5_dk",
        wording="I think AI could make my role unnecessary.",
        note="Job replacement anxiety and AI-related job insecurity (Wang & Wang 2019).",
    ),
    ItemDefinition(
        code="ai.skills",
        theme="ai",
        construct="skill obsolescence",
        reverse=False,
        is_anchor=False,
        scale="agree5_dk",
        wording="I worry that my skills will not keep pace as AI tools spread.",
        note="Learning anxiety and skill obsolescence (Wang & Wang 2019).",
    ),
    ItemDefinition(
        code="ai.checking",
        theme="ai",
        construct="calibrated trust",
        reverse=True,
        is_anchor=False,
        scale="agree5_dk",
        wording="I know how to check what an AI tool produces before I rely on it.",
        note="Calibrated trust in automation, distinct from distrust (Jian et al. 2000).",
    ),
    ItemDefinition(
        code="ai.transparency",
        theme="ai",
        construct="transparency",
        reverse=True,
        is_anchor=False,
        scale="agree5_dk",
        wording="It is clear why and how AI is being brought in here, and what that means for "
        "our roles.",
        note="Sociotechnical blindness: not seeing how AI fits the work (Wang & Wang 2019).",
    ),
    ItemDefinition(
        code="ai.support",
        theme="ai",
        construct="voice and support",
        reverse=True,
        is_anchor=False,
        scale="agree5_dk",
        wording="Our team has a say in how AI is rolled out, with enough time and training to "
        "adapt.",
        note="Configuration anxiety eased by voice and support in the rollout (Wang & Wang 2019).",
    ),
)

ENPS_ITEM: Final = ItemDefinition(
    code="enps",
    theme=ENPS_THEME,
    construct="employee net promoter score",
    reverse=False,
    is_anchor=False,
    scale="nps",
    wording="How likely would you be to recommend this team to a friend as a place to work?",
    note="Employee Net Promoter Score: promoters (9–10) minus detractors (0–6).",
)

ITEMS_BY_CODE: Final[dict[str, ItemDefinition]] = {
    item.code: item for item in (*ITEM_BANK, ENPS_ITEM)
}


def get_item(code: str) -> ItemDefinition:
    """Return the item with this code, or raise ValueError naming the unknown code."""
    try:
        return ITEMS_BY_CODE[code]
    except KeyError:
        raise ValueError(f"unknown item code {code!r}") from None


def theme_items(theme: str) -> list[ItemDefinition]:
    """Return a theme's items in display order, anchor first."""
    if theme not in THEMES:
        raise ValueError(f"unknown theme {theme!r}; expected one of {', '.join(THEMES)}")
    return [item for item in ITEM_BANK if item.theme == theme]


def _check_cycle(program: str, sequence: int) -> None:
    if program not in PROGRAMS:
        raise ValueError(f"unknown survey program {program!r}; expected one of {PROGRAMS}")
    if sequence < 0:
        raise ValueError(f"cycle sequence must be 0 or more, got {sequence}")


def module_for_cycle(program: str, sequence: int) -> str | None:
    """Return the theme whose full module a cycle asks, or None when the program asks everything."""
    _check_cycle(program, sequence)
    if program == "full":
        return None
    return ROTATION[sequence % len(ROTATION)]


def items_for_cycle(program: str, sequence: int) -> list[str]:
    """Return the item codes a cycle asks, in display order (the eNPS item is never included)."""
    module = module_for_cycle(program, sequence)
    if module is None:
        return [item.code for item in ITEM_BANK]
    anchors = [item.code for item in ITEM_BANK if item.is_anchor]
    rest = [item.code for item in ITEM_BANK if item.theme == module and not item.is_anchor]
    return anchors + rest
