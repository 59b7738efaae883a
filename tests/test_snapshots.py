"""JetStream's snapshot API (services/snapshots.py) against a real nats-server: a stream saved to
a file and recreated from it holds the same messages; the server's refusals are BackupErrors."""

from __future__ import annotations

import pytest

from events import codec
from events.schema import SessionCreated
from events.streams import CHAT_STREAM
from services import bus
from services.errors import BackupError
from services.snapshots import restore_stream, snapshot


async def stored(js) -> list[tuple]:
    state = (await js.stream_info(CHAT_STREAM)).state
    return [
        (m.seq, m.subject, m.data) for m in [await js.get_msg(CHAT_STREAM, s) for s in range(1, state.last_seq + 1)]
    ]


async def test_a_stream_saved_and_recreated_holds_the_same_messages(nc, js, tmp_path):
    for _ in range(3):
        event = codec.make(
            SessionCreated, session_id=codec.new_id(), user_id="u", title="t", llm_provider="local", llm_model="m"
        )
        await bus.publish(js, event)
    before = await stored(js)
    file = tmp_path / "chat.tar.s2"
    meta = await snapshot(nc, CHAT_STREAM, file)
    assert meta["state"]["messages"] == 3 and meta["config"]["name"] == CHAT_STREAM and file.stat().st_size > 0
    with pytest.raises(BackupError, match="stream name already in use"):  # never over a live stream
        await restore_stream(nc, meta, file)
    await js.delete_stream(CHAT_STREAM)
    state = await restore_stream(nc, meta, file)
    assert state["messages"] == 3 and state["last_seq"] == before[-1][0]
    assert await stored(js) == before


async def test_a_snapshot_of_a_missing_stream_is_a_backup_error(nc, tmp_path):
    with pytest.raises(BackupError, match=r"SNAPSHOT\.NOPE: stream not found"):
        await snapshot(nc, "NOPE", tmp_path / "nope.tar.s2")
