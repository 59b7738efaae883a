"""Gap and duplicate detection of the benchmark's clients (services/bench/sequence.py)."""

from __future__ import annotations

import pytest

from services.bench.sequence import Checker, Chunk, End, Track, evolve


def test_contiguous_chunks_then_the_right_total_are_clean():
    track, found = Track(), []
    for seen in (Chunk(0, 0, 3), Chunk(1, 3, 1), Chunk(2, 4, 2), End(6)):
        track, more = evolve(track, seen)
        found += more
    assert found == []
    assert track == Track(next_index=3, next_token=6, ended=True)


def test_a_skipped_chunk_is_a_gap_and_tracking_resumes_after_it():
    track, _ = evolve(Track(), Chunk(0, 0, 2))
    track, found = evolve(track, Chunk(2, 5, 1))
    assert [a.kind for a in found] == ["gap"]
    assert "expected chunk 1 at token 2" in found[0].detail
    track, found = evolve(track, Chunk(3, 6, 1))
    assert found == []


def test_missing_tokens_inside_a_chunk_sequence_are_a_gap():
    track, _ = evolve(Track(), Chunk(0, 0, 2))
    _, found = evolve(track, Chunk(1, 3, 1))  # chunk numbers agree, token 2 is missing
    assert [a.kind for a in found] == ["gap"]


def test_a_repeated_chunk_is_a_duplicate_and_does_not_move_the_track():
    track, _ = evolve(Track(), Chunk(0, 0, 2))
    track, _ = evolve(track, Chunk(1, 2, 2))
    again, found = evolve(track, Chunk(1, 2, 2))
    assert [a.kind for a in found] == ["duplicate"]
    assert again == track


def test_a_chunk_after_the_end_is_a_duplicate():
    track, _ = evolve(Track(), Chunk(0, 0, 1))
    track, _ = evolve(track, End(1))
    _, found = evolve(track, Chunk(1, 1, 1))
    assert [a.kind for a in found] == ["duplicate"]


def test_an_end_before_all_tokens_is_short_and_after_more_is_overrun():
    track, _ = evolve(Track(), Chunk(0, 0, 3))
    assert [a.kind for a in evolve(track, End(5))[1]] == ["short"]
    assert [a.kind for a in evolve(track, End(2))[1]] == ["overrun"]
    assert evolve(track, End(None))[1] == []


def test_anything_else_is_a_type_error():
    with pytest.raises(TypeError):
        evolve(Track(), (0, 0, 1))


def test_checker_tracks_each_message_and_attempt_apart():
    checker = Checker()
    checker.chunk("m1", 1, 0, 0, 2)
    checker.chunk("m2", 1, 0, 0, 1)  # another answer starts at 0: no duplicate
    checker.chunk("m1", 2, 0, 0, 1)  # a restarted attempt starts at 0 again
    checker.chunk("m1", 1, 1, 2, 1)
    checker.end("m1", 1, 3)
    assert checker.anomalies == []
    checker.chunk("m1", 2, 0, 0, 1)
    checker.end("m2", 1, 4)
    assert checker.count("duplicate") == 1
    assert checker.count("short") == 1
    assert checker.anomalies[0].startswith("duplicate: m1 attempt 2:")
