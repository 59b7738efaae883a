"""Server-sent events from the bytes of a response, however the reads cut them."""

from __future__ import annotations

from services.generation.sse import Decoder

STREAM = (
    b": OPENROUTER PROCESSING\n\n"
    b'data: {"a": "\xc3\xa9t\xc3\xa9"}\n\n'
    b"event: message\r\nid: 7\r\ndata: first line\r\ndata:second line\r\n\r\n"
    b"data: [DONE]\n\n"
)
EVENTS = ['{"a": "été"}', "first line\nsecond line", "[DONE]"]


def test_events_in_one_read():
    decoder = Decoder()
    assert decoder.feed(STREAM) + decoder.end() == EVENTS


def test_events_cut_at_every_byte_come_out_the_same():
    # A cut inside a UTF-8 character, a CRLF or the "data:" prefix must not change anything.
    decoder = Decoder()
    out: list[str] = []
    for i in range(len(STREAM)):
        out += decoder.feed(STREAM[i : i + 1])
    assert out + decoder.end() == EVENTS


def test_events_cut_at_two_points_come_out_the_same():
    for i in range(len(STREAM)):
        for j in range(i, len(STREAM), 7):
            decoder = Decoder()
            out = decoder.feed(STREAM[:i]) + decoder.feed(STREAM[i:j]) + decoder.feed(STREAM[j:]) + decoder.end()
            assert out == EVENTS, (i, j)


def test_an_event_the_body_did_not_close_comes_out_at_the_end():
    decoder = Decoder()
    assert decoder.feed(b"data: one\n\ndata: two") == ["one"]
    assert decoder.end() == ["two"]
    assert decoder.end() == []


def test_blank_lines_and_comments_alone_are_no_events():
    decoder = Decoder()
    assert decoder.feed(b"\n\n: keep-alive\n\n\r\n") == []
    assert decoder.end() == []
