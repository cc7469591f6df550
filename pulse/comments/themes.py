"""Grouping a group's comments into a few themes on the server (TF-IDF and NMF, scikit-learn).

Nothing leaves the server and no model is downloaded: the vocabulary is learnt from the
comments themselves each time. AI-concern comments are set apart first by a fixed lexicon,
so that worries about AI never dissolve into "tools" or "workload" themes, then the rest is
factorised. A theme is shown only when it draws on at least `min_size` distinct comments
(the cycle's comments threshold): a theme of two comments would single their writers out
as surely as a small team's comments would.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

AI_THEME: Final = "AI concerns"
# Words that mark a comment as being about AI adoption; whole words, case-insensitive.
_AI_WORDS = re.compile(
    r"(?<![\w])(ai|a\.i\.|llms?|chatgpt|copilot|gpt|genai|chatbots?|machine learning|"
    r"language models?|automat(?:ed|ion|e|ing)|generated code|prompts?|ai-generated)(?![\w])",
    re.IGNORECASE,
)
# Placeholders from masking and words too common in comments to tell themes apart.
_EXTRA_STOP_WORDS: Final = frozenset(
    {
        "name",
        "email",
        "phone",
        "team",
        "really",
        "just",
        "like",
        "think",
        "feel",
        "lot",
        "get",
        "make",
        "things",
        "thing",
        "people",
        "way",
        "would",
        "could",
        "us",
        "we",
        "also",
        "bit",
    }
)
MAX_THEMES: Final = 6
REPRESENTATIVES: Final = 3


@dataclass(frozen=True)
class Theme:
    """One theme as a leader sees it: keywords, how many comments, two or three examples."""

    label: str
    keywords: tuple[str, ...]
    count: int
    examples: tuple[str, ...]


@dataclass(frozen=True)
class Grouping:
    """Each comment's group (-1: none) and the keywords of every group, before any hiding."""

    labels: tuple[int, ...]
    keywords: tuple[tuple[str, ...], ...]
    ai_group: int | None


def is_ai_concern(body: str) -> bool:
    """Whether a comment speaks about AI adoption (grouped on its own)."""
    return _AI_WORDS.search(body) is not None


def _normalised(body: str) -> str:
    return " ".join(body.casefold().split())


def group_comments(
    bodies: Sequence[str], *, max_themes: int = MAX_THEMES, min_size: int = 1, seed: int = 0
) -> Grouping:
    """Assign every comment to at most one group: the AI group, or its strongest NMF topic.

    The number of topics is what the comments can carry (at most one per `min_size` of the
    non-AI comments), so a small group is not forced into themes too small to be shown.
    """
    # Imported on first use: scikit-learn takes about a second to import, which every CLI
    # command and worker would otherwise pay without ever grouping a comment.
    from sklearn.decomposition import NMF
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer

    labels = [-1] * len(bodies)
    keywords: list[tuple[str, ...]] = []
    ai = [i for i, body in enumerate(bodies) if is_ai_concern(body)]
    rest = [i for i, body in enumerate(bodies) if not is_ai_concern(body)]
    ai_group: int | None = None
    if ai:
        ai_group = 0
        keywords.append(_frequent_words([bodies[i] for i in ai], ENGLISH_STOP_WORDS))
        for i in ai:
            labels[i] = 0
    topics = min(max_themes - (1 if ai else 0), len(rest) // max(min_size, 1))
    if topics >= 1 and len(rest) >= 2:
        vectoriser = TfidfVectorizer(
            stop_words=list(ENGLISH_STOP_WORDS | _EXTRA_STOP_WORDS),
            sublinear_tf=True,
            min_df=2 if len(rest) >= 20 else 1,
            max_df=0.5,
            ngram_range=(1, 2),
            token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z-]+\b",
        )
        try:
            matrix = vectoriser.fit_transform([bodies[i] for i in rest])
        except ValueError:  # nothing but stop words
            matrix = None
        if matrix is not None and matrix.shape[1] >= topics:
            model = NMF(n_components=topics, init="nndsvda", random_state=seed, max_iter=400)
            with warnings.catch_warnings():
                # A few short comments may not converge fully; the grouping is still usable
                # and a warning per dashboard view would only fill the logs.
                warnings.simplefilter("ignore", ConvergenceWarning)
                weights: Any = model.fit_transform(matrix)
            terms = vectoriser.get_feature_names_out()
            offset = len(keywords)
            for component in model.components_:
                top = np.argsort(component)[::-1][:5]
                keywords.append(tuple(str(terms[t]) for t in top if component[t] > 0))
            strongest = np.asarray(weights).argmax(axis=1)
            for row, i in enumerate(rest):
                if float(np.asarray(weights)[row].max()) > 0:
                    labels[i] = offset + int(strongest[row])
    return Grouping(tuple(labels), tuple(keywords), ai_group)


def _frequent_words(bodies: Sequence[str], stop: frozenset[str]) -> tuple[str, ...]:
    """The five words most comments of a group use: the keywords of the AI group, whose
    comments are gathered by lexicon rather than factorised."""
    counts: dict[str, int] = {}
    for body in bodies:
        for word in set(re.findall(r"[a-z][a-z-]+", body.casefold())):
            if word not in stop and word not in _EXTRA_STOP_WORDS:
                counts[word] = counts.get(word, 0) + 1
    ranked = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return tuple(word for word, _ in ranked[:5])


def find_themes(
    bodies: Sequence[str], *, min_size: int, max_themes: int = MAX_THEMES, seed: int = 0
) -> list[Theme]:
    """The themes a leader may see: only those drawing on at least `min_size` distinct
    comments (identical texts count once), largest first, with up to three examples.

    `bodies` must already be masked: examples are quoted as they are.
    """
    if min_size < 1:
        raise ValueError("a theme needs at least one comment")
    grouping = group_comments(bodies, max_themes=max_themes, min_size=min_size, seed=seed)
    themes = []
    for group, words in enumerate(grouping.keywords):
        members = [bodies[i] for i, label in enumerate(grouping.labels) if label == group]
        distinct: dict[str, str] = {}
        for body in members:
            distinct.setdefault(_normalised(body), body)
        if len(distinct) < min_size:
            continue
        examples = _representatives(list(distinct.values()), words)
        label = AI_THEME if group == grouping.ai_group else ", ".join(words[:3])
        themes.append(Theme(label, words, len(members), examples))
    themes.sort(key=lambda t: (-t.count, t.label))
    return themes


def _representatives(bodies: list[str], keywords: Sequence[str]) -> tuple[str, ...]:
    """The comments naming most of the theme's keywords, shorter first on ties: the ones that
    say the theme most plainly."""
    words = [w.casefold() for w in keywords]

    def score(body: str) -> tuple[int, int]:
        text = body.casefold()
        return (-sum(1 for w in words if w in text), len(body))

    return tuple(sorted(bodies, key=score)[:REPRESENTATIVES])
