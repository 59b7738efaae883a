"""The edge's per-event metrics: cached children count into the same series as labels() would."""

from __future__ import annotations

import asyncio

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


async def test_counts_in_the_event_loop_reach_the_series_by_the_next_render():
    before = _value(metrics.FRAMES_SENT, "loopFrame")
    for _ in range(5):
        metrics.count_frame("loopFrame")
    assert b'parley_edge_ws_frames_sent_total{type="loopFrame"}' in metrics.render()[0]
    assert _value(metrics.FRAMES_SENT, "loopFrame") == before + 5
    metrics.count_frame("loopFrame")
    await asyncio.sleep(metrics.FLUSH_S + 0.2)  # and within FLUSH_S without one
    assert _value(metrics.FRAMES_SENT, "loopFrame") == before + 6
