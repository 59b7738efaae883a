"""The soak's verdict: growth is the last fifth against the fifth after warm-up."""

from __future__ import annotations

import pytest

from services.chaos.soak import Sample, growth, report


def _run(values: list[float]) -> list[Sample]:
    return [Sample(float(i), {"edge-0 rss": v, "consumers": 5.0}) for i, v in enumerate(values)]


def test_warm_up_is_not_growth_and_steady_figures_pass():
    samples = _run([50, 90, 100, 100, 101, 100, 100, 99, 101, 100])  # the first fifth fills caches
    assert growth(samples, "edge-0 rss")[2] == pytest.approx(0.0, abs=0.01)
    text, ok = report(samples, 30, answers=100, lost=0, duplicated=0)
    assert ok and "| consumers | 5.0 | 5.0 | +0.0 % |" in text


def test_a_leak_fails_and_so_does_a_lost_answer():
    leaking = _run([100, 100, 100, 104, 108, 112, 116, 120, 124, 128])
    a, b, g = growth(leaking, "edge-0 rss")
    assert (a, b) == (102, 126) and g == pytest.approx(24 / 102)
    text, ok = report(leaking, 30, answers=100, lost=0, duplicated=0)
    assert not ok and "over 5 %" in text
    assert not report(_run([100] * 10), 30, answers=100, lost=1, duplicated=0)[1]


def test_private_memory_is_read_from_a_real_process_tree():
    import os

    from services.chaos.soak import tree_figures

    private, fds = tree_figures(os.getpid(), private=True)
    rss, _ = tree_figures(os.getpid())
    assert 0 < private <= rss and fds > 0
