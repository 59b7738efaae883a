"""The edge's per-event metrics: cached children count into the same series as labels() would."""

from __future__ import annotations

from services.edge import metrics


def _value(counter, kind: str) -> float:
    return counter.labels(kind)._value.get()


def test_cached_counters_count_into_the_labelled_series():
    before = _value(metrics.EVENTS, "test.kind"), _value(metrics.FRAMES_SENT, "testFrame")
    for _ in range(3):
        metrics.count_event("test.kind")
        metrics.count_frame("testFrame")
    after = _value(metrics.EVENTS, "test.kind"), _value(metrics.FRAMES_SENT, "testFrame")
    assert after == (before[0] + 3, before[1] + 3)
