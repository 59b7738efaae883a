"""Percentiles, rates and the join of client receipts to provider emit times
(services/bench/stats.py, services/bench/latency.py)."""

from __future__ import annotations

import pytest

from services.bench import latency, stats
from services.bench.plan import Answer


def test_summary_is_nearest_rank_in_milliseconds():
    values = [i / 1000 for i in range(1, 101)]  # 1 ms .. 100 ms
    s = stats.summary(values)
    assert s == {"n": 100, "p50": 50.0, "p90": 90.0, "p99": 99.0, "max": 100.0, "mean": 50.5}


def test_summary_of_nothing_says_so():
    assert stats.summary([]) == {"n": 0, "p50": None, "p90": None, "p99": None, "max": None, "mean": None}


def test_ratio_and_rate_guard_against_missing_values():
    assert stats.ratio(3.0, 2.0) == 1.5
    assert stats.ratio(None, 2.0) is None
    assert stats.ratio(1.0, 0.0) is None
    assert stats.rate(10, 4.0) == 2.5
    assert stats.rate(10, 0.0) == 0.0


def record(nonce: str, received_at: float, times: list[float], history: int = 0) -> dict:
    # Earlier turns carry older nonces: only the last user message names the request.
    earlier = [{"role": "user", "content": f"bench:old-{i}"} for i in range(history)]
    messages = [*earlier, {"role": "user", "content": f"bench:{nonce} [[tokens:{len(times)}]]"}]
    return {
        "messages": messages,
        "received_at": received_at,
        "token_times": times,
        "first_token_at": times[0] if times else None,
    }


def test_nonce_comes_from_the_last_user_message():
    assert latency.nonce_of(record("a.1.2", 0.0, [1.0], history=2)) == "a.1.2"
    assert latency.nonce_of({"messages": [{"role": "user", "content": "no nonce"}]}) is None


def test_join_gives_each_token_of_a_chunk_its_own_emit_time():
    records = latency.by_nonce([record("n1", 100.0, [100.10, 100.12, 100.14])])
    answer = Answer(nonce="n1", sent_at=99.9, message_id="m", outcome="completed", done_at=100.2)
    answer.tokens = [(0, 2, 100.13, 1), (2, 1, 100.15, 1)]  # a chunk of two, then one
    joined = latency.join([answer], records, 0.0, 1000.0)
    assert joined.latencies == pytest.approx([0.03, 0.01, 0.01])
    assert joined.tokens == 3 and joined.token_frames == 2 and joined.answers == 1
    assert joined.ttft == pytest.approx([0.23])
    assert joined.provider_ttft == pytest.approx([0.10])
    assert joined.ttft_overhead == pytest.approx([0.13])
    assert joined.request_path == pytest.approx([0.1])


def test_join_counts_only_the_window_and_reports_what_it_cannot_match():
    records = latency.by_nonce([record("n1", 10.0, [10.0, 11.0])])
    inside = Answer(nonce="n1", sent_at=9.0, message_id="m")
    inside.tokens = [(0, 1, 10.5, 1), (1, 1, 11.5, 1), (2, 1, 11.6, 1)]  # token 2 was never emitted
    stranger = Answer(nonce="nobody", sent_at=10.0, message_id="x")
    stranger.tokens = [(0, 1, 10.5, 1)]
    joined = latency.join([inside, stranger], records, 10.0, 11.55)
    assert joined.latencies == pytest.approx([0.5, 0.5])
    assert joined.ttft == []  # the prompt was sent before the window
    assert joined.unmatched == 1
    joined = latency.join([inside], records, 10.0, 12.0)
    assert joined.unknown_tokens == 1


def test_a_restarted_attempt_is_joined_to_the_later_request():
    records = latency.by_nonce([record("n", 2.0, [2.5]), record("n", 1.0, [1.1])])
    answer = Answer(nonce="n", sent_at=0.9, message_id="m")
    answer.tokens = [(0, 1, 1.2, 1), (0, 1, 2.7, 2)]
    joined = latency.join([answer], records, 0.0, 10.0)
    assert joined.latencies == pytest.approx([0.1, 0.2])


def test_frames_in_window_from_buckets():
    buckets = {0: 5, 1: 7, 4: 2, 8: 1}  # 0.25 s buckets since t0 = 100
    assert latency.frames_in(buckets, 100.0, 100.25, 101.25, 0.25) == 9
