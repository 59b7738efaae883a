"""services.edge.inbound: client frames parsed strictly, refusals with the protocol's codes."""

from __future__ import annotations

import pytest

from services.edge import inbound
from services.edge.errors import BadFrame


def test_valid_frames():
    assert inbound.parse('{"type": "send", "content": "hi", "client_message_id": "c"}') == inbound.Send(
        content="hi", client_message_id="c"
    )
    assert inbound.parse(b'{"type": "cancel", "message_id": "m"}') == inbound.Cancel(message_id="m")
    assert inbound.parse('{"type": "regenerate"}') == inbound.Regenerate()
    assert inbound.parse('{"type": "typing"}') == inbound.Typing(typing=True)
    assert inbound.parse('{"type": "ping", "extra": 1}') == inbound.Ping()
    assert inbound.parse('{"type": "auth", "token": "t"}') == inbound.Auth(token="t")


@pytest.mark.parametrize(
    "raw, code, mentions",
    [
        ("nope", "bad_json", "JSON"),
        (b"\xff", "bad_json", "JSON"),
        ("", "bad_json", "JSON"),
        ("3", "invalid_frame", "object"),
        ('{"content": "x"}', "invalid_frame", "type"),
        ('{"type": 3}', "invalid_frame", "type"),
        ('{"type": "dance"}', "unknown_type", "dance"),
        ('{"type": "send"}', "invalid_frame", "content"),
        ('{"type": "send", "content": ["x"]}', "invalid_frame", "$.content"),
        ('{"type": "send", "content": "x", "client_message_id": ""}', "invalid_frame", "$.client_message_id"),
        ('{"type": "typing", "typing": 1}', "invalid_frame", "$.typing"),
        ('{"type": "auth"}', "invalid_frame", "token"),
    ],
)
def test_refusals(raw, code, mentions):
    with pytest.raises(BadFrame) as caught:
        inbound.parse(raw)
    assert caught.value.code == code
    assert mentions in caught.value.detail


def test_client_message_id_of_a_refused_frame():
    assert inbound.client_message_id_of('{"type": "send", "content": 1, "client_message_id": "c9"}') == "c9"
    assert inbound.client_message_id_of("nope") is None
    assert inbound.client_message_id_of('{"client_message_id": 5}') is None
