"""services.edge.witness: which sends may skip the retry read, and that a retry after JetStream's
dedup window is still answered once, through a real system."""

from __future__ import annotations

import asyncio

import httpx

from events import codec, subjects
from events.schema import MessageSubmitted, SessionCreated, SessionDeleted
from events.streams import CHAT_STREAM
from services import bus
from services.edge.bridge import Bridge, is_current
from services.edge.witness import Witness
from tests.test_edge_api import API, wait_for_message


def created(sid: str) -> SessionCreated:
    return codec.make(SessionCreated, session_id=sid, user_id="u", title="t", llm_provider="local", llm_model="m")


def submitted(sid: str, mid: str, cmid: str | None = "k") -> MessageSubmitted:
    return codec.make(
        MessageSubmitted, session_id=sid, user_id="u", message_id=mid, content="hi", client_message_id=cmid
    )


def test_only_a_session_seen_whole_vouches_for_a_message_never_stored():
    witness = Witness()
    assert not witness.never_stored("s1", "m1"), "a session never seen created: read PostgreSQL"
    witness.observe(created("s1"))
    assert witness.never_stored("s1", "m1")
    witness.observe(submitted("s1", "m1"))
    assert not witness.never_stored("s1", "m1"), "stored: the retry read finds it"
    assert witness.never_stored("s1", "m2")
    witness.observe(submitted("s1", "m3", cmid=None))  # no key: never retried by key, not kept
    witness.observe(codec.make(SessionDeleted, session_id="s1", user_id="u"))
    assert not witness.never_stored("s1", "m2") and len(witness) == 0


def test_a_bridge_that_may_be_behind_vouches_for_nothing():
    current = [True]
    witness = Witness(current=lambda: current[0])
    witness.observe(created("s1"))
    assert witness.never_stored("s1", "m1")
    current[0] = False
    assert not witness.never_stored("s1", "m1")


def test_is_current_reads_pending_and_the_stored_time_from_the_ack_subject():
    now = 1_000_000_000_000
    ack = "$JS.ACK.PARLEY_CHAT.c1.1.{seq}.{seq}.{at}.{pending}"
    assert is_current(ack.format(seq=5, at=now - 60 * 10**9, pending=0), now), "nothing pending after it"
    assert is_current(ack.format(seq=5, at=now - 10**8, pending=7), now), "stored a moment ago"
    assert not is_current(ack.format(seq=5, at=now - 60 * 10**9, pending=7), now), "a minute behind"
    assert not is_current("$JS.ACK.dom.acc.PARLEY_CHAT.c1.1.5.5.1.0.x", now), "another form: do not guess"


async def test_the_bridge_is_caught_up_once_it_has_the_stream_s_newest_event(nc, js):
    bridge = Bridge(nc, js)
    await bridge.start()
    try:
        assert bridge.caught_up(), "subscribed at the stream's end"
        sid = codec.new_id()
        ack = await bus.publish(js, created(sid))
        async with asyncio.timeout(5):
            while bridge.last_seq < ack.seq:
                await nc.flush()
        assert bridge.caught_up(), "this server's ack subjects have the form is_current reads"
    finally:
        await bridge.stop()


def test_the_bound_drops_the_session_idle_longest():
    witness = Witness(sessions=2, messages=3)
    for sid in ("a", "b"):
        witness.observe(created(sid))
    witness.observe(submitted("a", "a1"))  # a is now the most recently active
    witness.observe(created("c"))
    assert not witness.never_stored("b", "x") and witness.never_stored("a", "x") and witness.never_stored("c", "x")
    for mid in ("c1", "c2", "c3"):  # four messages kept in all: over the bound
        witness.observe(submitted("c", mid))
    assert not witness.never_stored("a", "x"), "dropped: read PostgreSQL again"
    assert not witness.never_stored("c", "c3") and witness.never_stored("c", "x")


async def test_a_retry_after_the_dedup_window_is_answered_once(make_system, js):
    system = make_system(env_extra={"PARLEY_DUPLICATE_WINDOW_S": "1"})
    url = system.edge_urls[0]
    assert (await js.stream_info(CHAT_STREAM)).config.duplicate_window == 1.0
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        sid = (await client.post(f"{API}/chat/sessions")).json()["id"]  # seen whole by this edge
        body = {"content": "once [[tokens:3]] [[rate:0]]", "client_message_id": "late-retry"}
        first = (await client.post(f"{API}/chat/sessions/{sid}/messages", json=body)).json()
        await wait_for_message(client, sid, first["answer_message_id"], "complete")
        await asyncio.sleep(1.5)  # past JetStream's dedup window: only the read model knows it now
        again = (await client.post(f"{API}/chat/sessions/{sid}/messages", json=body)).json()
        assert again["message"]["id"] == first["message"]["id"]
        assert again["answer_message_id"] == first["answer_message_id"]
        other = await client.post(f"{API}/chat/sessions/{sid}/messages", json={**body, "client_message_id": "new"})
        await wait_for_message(client, sid, other.json()["answer_message_id"], "complete")
        messages = (await client.get(f"{API}/chat/sessions/{sid}/messages")).json()
        assert [m["client_message_id"] for m in messages if m["role"] == "user"] == ["late-retry", "new"]
        records = (await client.get(f"{system.llm_url}/_record")).json()
        assert len(records) == 2, "the late retry asked the model nothing"
    subject = subjects.of_type(MessageSubmitted, sid)
    stored = (await js.stream_info(CHAT_STREAM, subjects_filter=subject)).state.subjects
    assert stored == {subject: 2}, "the late retry stored nothing"
