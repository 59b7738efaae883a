"""Token timing on terminal events: the compact encoding round-trips and rejects what is not one."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from events import tokens
from events.errors import EventDecodeError
from events.tokens import Mark, Recorder

T0 = 1_796_054_564_123  # epoch ms


def test_marks_round_trip_including_a_clock_step_back_and_long_gaps():
    marks = [Mark(3, T0, True), Mark(2, T0 + 33, False), Mark(0, T0 + 31, True), Mark(200, T0 + 600_000, True)]
    assert tokens.decode_marks(tokens.encode(marks)) == marks


def test_no_tokens_is_the_empty_string():
    assert tokens.encode([]) == "" and tokens.decode_marks("") == [] and tokens.decode("", "") == []


def test_a_chat_speed_token_costs_under_three_characters():
    recorder = Recorder()
    for i in range(300):
        recorder.token("word", T0 + 33 * i)
        recorder.chunk(i)
    encoded = recorder.encode()
    assert len(encoded) <= 300 * 8 / 3 + 12  # 2 bytes a token in base64, plus the first time
    assert encoded.isascii() and "=" not in encoded and "+" not in encoded and "/" not in encoded


def test_decode_cuts_the_text_and_numbers_the_chunks():
    recorder = Recorder()
    for i, text in enumerate(["Hé", "llo", " wörld", "!"]):
        recorder.token(text, T0 + 40 * i)
    recorder.chunk(0)
    recorder.chunk(2)
    out = tokens.decode("Héllo wörld!", recorder.encode())
    assert [t.text for t in out] == ["Hé", "llo", " wörld", "!"]
    assert [t.chunk for t in out] == [0, 0, 1, 1]
    assert out[0].at == datetime(2026, 11, 30, 16, 2, 44, 123000, tzinfo=UTC)
    assert [(t.at - out[0].at).total_seconds() * 1000 for t in out] == [0, 40, 80, 120]


def test_encode_upto_keeps_only_the_tokens_the_chunks_carried():
    recorder = Recorder()
    for i in range(5):
        recorder.token("ab", T0 + i)
    assert len(tokens.decode_marks(recorder.encode(3))) == 3


@pytest.mark.parametrize(
    ("encoded", "says"),
    [
        ("!!!", "base64url"),
        ("Ag", "version"),  # version 2
        ("AYA", "truncated"),  # a varint that never ends
        ("AQI", "truncated"),  # a length without a time
    ],
)
def test_bad_strings_are_decode_errors(encoded, says):
    with pytest.raises(EventDecodeError, match=says):
        tokens.decode_marks(encoded)


def test_timing_that_does_not_cover_the_text_is_an_error():
    encoded = tokens.encode([Mark(3, T0, True)])
    with pytest.raises(EventDecodeError, match="covers 3 characters, the text has 4"):
        tokens.decode("abcd", encoded)
