"""The scale-out bench's judgement of what a machine allows (bench.delivery_scale)."""

from __future__ import annotations

import pytest

from bench.delivery_scale import Outcome, allowed_rate


def _outcome(workers: float, postgres: float, sink: float) -> Outcome:
    # 1,000 emails in 10 s: a part busy for x cores spent x * 10 ms of CPU per email.
    cpu = {"workers": workers, "postgres": postgres, "sink": sink, "redis": 0.0}
    return Outcome(10.0, 1000, True, 0, 0, 0, cpu, 1000, 1000, [])


def test_one_worker_is_held_to_one_core_and_all_share_the_machine() -> None:
    # 2 ms of worker CPU and 1 ms of everything else per email, on 2 cores.
    measured = _outcome(workers=0.2, postgres=0.05, sink=0.05)
    assert allowed_rate(1, measured, cores=2) == pytest.approx(500)  # one core: 1 / 2 ms
    assert allowed_rate(2, measured, cores=2) == pytest.approx(2000 / 3)  # 2 cores / 3 ms
    # With cores to spare, two workers double the rate.
    assert allowed_rate(2, measured, cores=8) == pytest.approx(1000)
