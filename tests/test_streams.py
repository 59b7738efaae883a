"""Stream limits come from settings, survive restarts, and an operator's own change is kept."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from nats.js import api
from nats.js.errors import APIError

from events import codec, streams
from events.schema import MessageSubmitted
from events.streams import CHAT_STREAM, StreamSettings
from services import bus

DAY = 86_400.0


async def _fresh(nc) -> None:
    js = nc.jetstream()
    await js.delete_stream(CHAT_STREAM)  # the fixture made one with the defaults


async def test_a_new_stream_takes_its_limits_from_settings(nc):
    await _fresh(nc)
    info = await streams.ensure(nc.jetstream(), StreamSettings(max_age_s=30 * DAY, max_bytes=5_000_000))
    assert info.config.max_age == pytest.approx(30 * DAY)
    assert info.config.max_bytes == 5_000_000
    assert info.config.discard == api.DiscardPolicy.NEW  # full: refuse new events, never drop old ones


async def test_a_restart_with_other_settings_applies_them(nc):
    js = nc.jetstream()
    await _fresh(nc)
    await streams.ensure(js, StreamSettings(max_age_s=DAY, max_bytes=5_000_000))
    reports = []
    info = await streams.ensure(js, StreamSettings(max_age_s=2 * DAY, max_bytes=6_000_000), reports.append)
    assert (info.config.max_age, info.config.max_bytes) == (pytest.approx(2 * DAY), 6_000_000)
    assert reports == []


async def test_an_operators_own_limit_is_kept_and_reported_not_overwritten(nc):
    js = nc.jetstream()
    await _fresh(nc)
    await streams.ensure(js, StreamSettings(max_age_s=DAY, max_bytes=5_000_000))
    # The operator raises the size limit with their own tools (as `nats stream edit` would).
    current = (await js.stream_info(CHAT_STREAM)).config
    await js.update_stream(replace(current, max_bytes=9_000_000, description="edited"))

    reports = []
    for _ in range(2):  # every start reports it, none resets it
        info = await streams.ensure(js, StreamSettings(max_age_s=DAY, max_bytes=5_000_000), reports.append)
        assert info.config.max_bytes == 9_000_000
    assert info.config.max_age == pytest.approx(DAY)  # the limit nobody touched still follows settings
    assert info.config.description != "edited"  # what is not a limit is Parley's to decide
    assert [(r.limit, r.value, r.setting, r.parley_set) for r in reports] == [("max_bytes", 9e6, 5e6, 5e6)] * 2

    # Settings that agree with the operator end the report, and take the limit back.
    await streams.ensure(js, StreamSettings(max_age_s=DAY, max_bytes=9_000_000), reports.append)
    await streams.ensure(js, StreamSettings(max_age_s=DAY, max_bytes=7_000_000), reports.append)
    assert len(reports) == 2
    assert (await js.stream_info(CHAT_STREAM)).config.max_bytes == 7_000_000


async def test_a_stream_made_by_an_older_parley_gets_the_settings(nc):
    js = nc.jetstream()
    await _fresh(nc)
    old = replace(streams.chat_stream(StreamSettings()), metadata=None, discard=api.DiscardPolicy.OLD)
    await js.add_stream(old)
    reports = []
    info = await streams.ensure(js, StreamSettings(max_bytes=5_000_000), reports.append)
    assert info.config.max_bytes == 5_000_000 and info.config.discard == api.DiscardPolicy.NEW
    assert reports == []


async def test_a_full_stream_refuses_new_events_and_keeps_every_stored_one(nc):
    js = nc.jetstream()
    await _fresh(nc)
    await streams.ensure(js, StreamSettings(max_bytes=64 * 1024))
    stored = []
    with pytest.raises(APIError) as refused:
        for i in range(1000):
            event = codec.make(MessageSubmitted, session_id="s", user_id="u", message_id=f"m{i}", content="x" * 1000)
            stored.append((await bus.publish(js, event)).seq)
    assert "maximum bytes" in str(refused.value).lower()
    state = (await js.stream_info(CHAT_STREAM)).state
    assert 10 < len(stored) < 1000
    assert (state.first_seq, state.last_seq, state.messages) == (1, stored[-1], len(stored))


async def test_a_full_stream_is_a_503_and_an_unavailable_frame_and_the_edge_lives_on(make_system, js):
    import httpx
    import websockets

    from tests.support.sockets import until, ws_url

    api_ = "/api/v1"
    system = make_system(env_extra={"PARLEY_STREAM_MAX_BYTES": str(128 * 1024)})
    url = system.edge_urls[0]
    assert (await js.stream_info(CHAT_STREAM)).config.max_bytes == 128 * 1024  # the setting was applied
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        sid = (await client.post(f"{api_}/chat/sessions", json={"title": "t"})).json()["id"]
        async with websockets.connect(ws_url(url, f"{api_}/chat/websocket/{sid}")) as ws:
            accepted = await client.post(f"{api_}/chat/sessions/{sid}/messages", json={"content": "kept [[tokens:3]]"})
            assert accepted.status_code == 202, accepted.text
            # Its answer ends before the stream fills: else a late delta of it, smaller than the
            # smallest filler, could still find room after ``before`` is read.
            await until(ws, lambda f: f["type"] == "messageUpdate" and f["data"].get("event") == "completed")
        # Someone else fills the rest of the stream, to the last byte a small event could take.
        for size in (1000, 100, 1):
            with pytest.raises(APIError):
                for i in range(1000):
                    filler = codec.make(
                        MessageSubmitted, session_id="other", user_id="u", message_id=f"f{size}-{i}", content="y" * size
                    )
                    await bus.publish(js, filler)
        before = (await js.stream_info(CHAT_STREAM)).state

        refused = await client.post(f"{api_}/chat/sessions/{sid}/messages", json={"content": "no room"})
        assert refused.status_code == 503, refused.text
        assert "maximum bytes" in refused.text.lower()
        async with websockets.connect(ws_url(url, f"{api_}/chat/websocket/{sid}")) as ws:
            await ws.send(json.dumps({"type": "send", "content": "no room either", "client_message_id": "c1"}))
            frame = await until(ws, lambda f: f["type"] == "error")
            assert frame["data"]["code"] == "unavailable" and frame["data"]["client_message_id"] == "c1"
            await ws.send(json.dumps({"type": "ping"}))  # the socket stays open
            await until(ws, lambda f: f["type"] == "connectionStatus" and f["data"]["status"] == "pong")
        assert (await client.get("/healthz")).status_code == 200
        after = (await js.stream_info(CHAT_STREAM)).state
        assert (after.first_seq, after.messages) == (before.first_seq, before.messages) == (1, before.last_seq)
        messages = (await client.get(f"{api_}/chat/sessions/{sid}/messages")).json()
        assert "kept [[tokens:3]]" in [m["content"] for m in messages]
