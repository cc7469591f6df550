"""Comment themes: agreement with hand labels (adjusted Rand index) and time for 10,000 comments.

The labelled set (bench/data/comment_themes.tsv) was written for the project, in our own
words, one comment a line with its intended theme. Grouping runs exactly as on the server
(pulse.comments.themes.group_comments); comments it leaves in no group count as one extra
cluster, which the index penalises as it should.
`python -m bench comment_themes [--quick]`.
"""

from __future__ import annotations

import random
import sys
import time
from pathlib import Path

from sklearn.metrics import adjusted_rand_score

from pulse.comments.themes import find_themes, group_comments, is_ai_concern

DATA = Path(__file__).parent / "data" / "comment_themes.tsv"
SCALE = 10_000


def labelled() -> list[tuple[str, str]]:
    """(label, text) pairs of the labelled set."""
    rows = []
    for line in DATA.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            label, text = line.split("\t", 1)
            rows.append((label, text))
    return rows


def agreement(rows: list[tuple[str, str]], seed: int = 0) -> tuple[float, float]:
    """The adjusted Rand index against the labels, and the share of comments grouped at all."""
    texts = [text for _, text in rows]
    themes = len({label for label, _ in rows})
    grouping = group_comments(texts, max_themes=themes, min_size=5, seed=seed)
    ari = adjusted_rand_score([label for label, _ in rows], list(grouping.labels))
    grouped = sum(1 for g in grouping.labels if g >= 0) / len(texts)
    return float(ari), grouped


def scaled(rows: list[tuple[str, str]], count: int, seed: int = 0) -> list[str]:
    """`count` comments drawn from the set, each with a few words of another comment of the
    same theme appended, so that the texts are not mere copies."""
    rng = random.Random(seed)
    by_label: dict[str, list[str]] = {}
    for label, text in rows:
        by_label.setdefault(label, []).append(text)
    out = []
    for _ in range(count):
        label, text = rng.choice(rows)
        other = rng.choice(by_label[label]).split()
        start = rng.randrange(len(other))
        out.append(f"{text} {' '.join(other[start : start + 4])}")
    return out


def main() -> None:
    rows = labelled()
    quick = "--quick" in sys.argv
    labels = len({label for label, _ in rows})
    scores = [agreement(rows, seed) for seed in range(1 if quick else 5)]
    ari = sum(s[0] for s in scores) / len(scores)
    grouped = sum(s[1] for s in scores) / len(scores)
    print(f"labelled comments: {len(rows)} in {labels} themes (AI concerns among them)")
    print(f"adjusted Rand index: {ari:.3f} (mean of {len(scores)} seeds); grouped {grouped:.0%}")
    flagged = {text for _, text in rows if is_ai_concern(text)}
    labelled_ai = {text for label, text in rows if label == "ai"}
    found = len(flagged & labelled_ai)
    print(
        f"AI-concern group: recall {found / len(labelled_ai):.0%}, "
        f"precision {found / max(len(flagged), 1):.0%}"
    )
    count = 2_000 if quick else SCALE
    texts = scaled(rows, count)
    started = time.perf_counter()
    themes = find_themes(texts, min_size=5)
    took = time.perf_counter() - started
    print(f"themes for {count:,} comments: {took:.2f} s, {len(themes)} themes shown")
    for theme in themes:
        print(f"  {theme.label}: {theme.count} comments; keywords {', '.join(theme.keywords)}")
