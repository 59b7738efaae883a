"""Coalescing tokens into chunk events (pure)."""

from __future__ import annotations

import itertools

import pytest

from services.generation.coalescer import Chunk, Coalescer, End, Tick, Token, step


def run(state: Coalescer, events) -> tuple[Coalescer, list[Chunk]]:
    out: list[Chunk] = []
    for event in events:
        state, chunks = step(state, event)
        out += chunks
    return state, out


def test_the_first_token_goes_out_at_once_and_a_burst_behind_it_shares_one_chunk():
    state, out = run(Coalescer.of(15, 32), [Token("a", 0.000)])
    assert out == [Chunk(index=0, token_index=0, token_count=1, delta="a")]
    state, out = run(state, [Token(" b", 0.004), Token(" c", 0.010), Token(" d", 0.012)])
    assert out == [] and state.deadline == pytest.approx(0.019)
    state, out = run(state, [Tick(0.018)])
    assert out == []
    state, out = run(state, [Tick(0.019)])
    assert out == [Chunk(index=1, token_index=1, token_count=3, delta=" b c d")]
    assert state.deadline is None


def test_a_slow_stream_waits_for_no_window():
    # Tokens further apart than the window: each goes out the moment it arrives.
    state = Coalescer.of(15, 32)
    for i in range(5):
        state, out = step(state, Token(f"t{i}", i * 0.033))
        assert out == [Chunk(index=i, token_index=i, token_count=1, delta=f"t{i}")]


def test_a_token_right_after_a_flush_waits_for_company():
    state, _ = run(Coalescer.of(15, 32), [Token("a", 0.0)])
    state, out = run(state, [Token("b", 0.005)])
    assert out == [] and state.deadline == pytest.approx(0.020)


def test_size_limit_flushes_before_the_timer():
    _, out = run(Coalescer.of(1000, 2), [Token("a", 0), Token("b", 0), Token("c", 0), Token("d", 0), End()])
    assert out == [Chunk(0, 0, 1, "a"), Chunk(1, 1, 2, "bc"), Chunk(2, 3, 1, "d")]


def test_a_late_token_closes_the_overdue_window_first():
    _, out = run(Coalescer.of(10, 32), [Token("a", 0.0), Token("b", 0.5), End()])
    assert out == [Chunk(0, 0, 1, "a"), Chunk(1, 1, 1, "b")]


def test_zero_window_sends_every_token_at_once():
    _, out = run(Coalescer.of(0, 32), [Token("a", 0.0), Token("b", 0.0)])
    assert [c.delta for c in out] == ["a", "b"]


def test_indexes_count_chunks_and_tokens_without_gaps():
    events = [Token(f"t{i} ", i * 0.004) for i in range(40)] + [End()]
    _, out = run(Coalescer.of(10, 5), events)
    assert [c.index for c in out] == list(range(len(out)))
    assert all(a.token_index + a.token_count == b.token_index for a, b in itertools.pairwise(out))
    assert sum(c.token_count for c in out) == 40
    assert "".join(c.delta for c in out) == "".join(f"t{i} " for i in range(40))
    assert all(c.token_count <= 5 for c in out)


def test_end_and_tick_with_nothing_pending_emit_nothing():
    state = Coalescer.of(10, 4)
    assert run(state, [Tick(5.0), End()])[1] == []


def test_bad_limits_and_inputs_are_refused():
    with pytest.raises(ValueError, match="max_tokens >= 1"):
        Coalescer.of(10, 0)
    with pytest.raises(ValueError, match="flush_ms >= 0"):
        Coalescer.of(-1, 4)
    with pytest.raises(TypeError, match="not a coalescer event"):
        step(Coalescer.of(10, 4), "token")


def test_reasoning_and_answer_tokens_never_share_a_chunk():
    tokens = [Token("Let", 0.0, True), Token(" me", 0.001, True), Token(" think", 0.002, True)]
    tokens += [Token("The", 0.003), Token(" answer", 0.004), End()]
    _, out = run(Coalescer.of(1000, 32), tokens)
    assert [(c.delta, c.reasoning) for c in out] == [("Let", True), (" me think", True), ("The answer", False)]
    assert [c.index for c in out] == [0, 1, 2]
    assert [(c.token_index, c.token_count) for c in out] == [(0, 1), (1, 2), (3, 2)]
