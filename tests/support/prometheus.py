"""Reading a Prometheus exposition the way a scraper does, with prometheus-client's parser."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

Labels = dict[str, str]


def samples(text: str) -> list[tuple[str, Labels, float]]:
    """Every sample of the exposition: (name, labels, value)."""
    return [
        (sample.name, dict(sample.labels), float(sample.value))
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples called `name` whose labels include `labels` (0 when none)."""
    return sum(
        found
        for sample_name, sample_labels, found in samples(text)
        if sample_name == name and labels.items() <= sample_labels.items()
    )


def label_values(text: str, name: str, label: str) -> set[str]:
    """The values one label takes across the samples called `name`."""
    return {
        sample_labels[label]
        for sample_name, sample_labels, _ in samples(text)
        if sample_name == name and label in sample_labels
    }
