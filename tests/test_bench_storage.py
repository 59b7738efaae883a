"""Bytes stored per token and per answer (services/bench/storage.py), against a real NATS."""

from __future__ import annotations

from nats.js import api

from services import bus
from services.bench import storage


def test_a_stream_with_any_limit_is_short_lived():
    assert storage.is_permanent(0, -1, -1) and storage.is_permanent(None, None, None)
    assert not storage.is_permanent(3600.0, -1, -1)
    assert not storage.is_permanent(0, 10_000, -1) and not storage.is_permanent(0, -1, 500)
    assert not storage.is_permanent(0, 10_000, -1, api.DiscardPolicy.OLD)
    # A full stream that refuses new events keeps every stored one: still the permanent log.
    assert storage.is_permanent(0, 10_000, -1, api.DiscardPolicy.NEW)


def test_growth_per_token_splits_permanent_from_short_lived():
    before = {"LOG": storage.Stream("LOG", True, 10, 1_000)}
    after = {"LOG": storage.Stream("LOG", True, 30, 5_000), "CHUNKS": storage.Stream("CHUNKS", False, 50, 6_000)}
    grown = storage.grown(before, after)
    assert grown == {
        "LOG": {"permanent": True, "messages": 20, "bytes": 4_000},
        "CHUNKS": {"permanent": False, "messages": 50, "bytes": 6_000},  # new since: all of it
    }
    found = storage.per_unit(grown, tokens=100, answers=4, text=500)
    assert found["permanent"]["bytes_per_token"] == 40.0 and found["permanent"]["times_text"] == 8.0
    assert found["short_lived"]["bytes_per_token"] == 60.0
    assert found["all"] == {
        "bytes": 10_000,
        "messages": 70,
        "bytes_per_token": 100.0,
        "bytes_per_answer": 2500.0,
        "times_text": 20.0,
    }
    assert found["text_bytes_per_token"] == 5.0
    assert storage.per_unit({}, 0, 0, 0)["all"]["bytes_per_token"] is None


def test_text_bytes_are_utf8():
    assert storage.text_bytes(["tok0", " é", " 🙂"]) == 4 + 3 + 5


async def test_snapshot_reads_every_chat_stream_and_leaves_buckets_out(nats):
    nc = await bus.connect(nats.url, "test-storage")
    try:
        js = nc.jetstream()
        await js.add_stream(api.StreamConfig(name="LOG", subjects=["log.>"]))
        await js.add_stream(api.StreamConfig(name="TEMP", subjects=["temp.>"], max_age=3600))
        await js.add_stream(
            api.StreamConfig(name="CAPPED", subjects=["capped.>"], max_bytes=10**6, discard=api.DiscardPolicy.NEW)
        )
        await js.create_key_value(api.KeyValueConfig(bucket="storage_test_cfg"))
        before = await storage.snapshot(js)
        for _ in range(5):
            await js.publish("log.x", b"x" * 100)
        await js.publish("temp.x", b"y" * 10)
        after = await storage.snapshot(js)
    finally:
        await nc.close()
    assert {"LOG", "TEMP"} <= set(after) and not any(name.startswith("KV_") for name in after)
    assert after["LOG"].permanent and not after["TEMP"].permanent and after["CAPPED"].permanent
    grown = storage.grown(before, after)
    assert grown["LOG"]["messages"] == 5 and grown["LOG"]["bytes"] > 500
    assert grown["TEMP"]["messages"] == 1


async def test_a_tally_by_event_type_adds_up_to_the_streams_own_bytes(nats):
    """Messages sized as the file store sizes them: the parts equal the stream's byte count."""
    nc = await bus.connect(nats.url, "test-storage-tally")
    try:
        js = nc.jetstream()
        await js.add_stream(api.StreamConfig(name="CHATLIKE", subjects=["chatlike.>"]))
        before = (await storage.snapshot(js))["CHATLIKE"]
        for i in range(30):
            await js.publish("chatlike.s1.generation.delta", b'{"d":" tok%d"}' % i)
        await js.publish("chatlike.s1.generation.completed", b"x" * 300, headers={"Nats-Msg-Id": "abc-1"})
        await js.publish("chatlike.s1.message.submitted", "é".encode() * 10, headers={"Trace": "t", "K": "v"})
        after = (await storage.snapshot(js))["CHATLIKE"]
        types = await storage.tally(js, "CHATLIKE", before.last_seq, after.last_seq, after.subject)
    finally:
        await nc.close()
    assert types["generation.delta"][0] == 30 and types["generation.completed"][0] == 1
    # The payload is the JSON alone; the rest is framing (record, subject, headers).
    assert types["generation.completed"][2] == 300 and types["message.submitted"][2] == 20
    assert types["generation.completed"][1] - 300 == 22 + len("chatlike.s1.generation.completed") + 8 + 4 + len(
        b"NATS/1.0\r\nNats-Msg-Id: abc-1\r\n\r\n"
    )
    assert sum(v[1] for v in types.values()) == after.bytes - before.bytes
    parts = storage.split(storage.grown({"CHATLIKE": before}, {"CHATLIKE": after}), {"CHATLIKE": types})
    assert parts["CHATLIKE"]["unaccounted"] == 0
    assert parts["CHATLIKE/short-lived"] == {"permanent": False, "messages": 30, "bytes": types["generation.delta"][1]}
    assert parts["CHATLIKE"]["messages"] == 2
    assert parts["CHATLIKE"]["types"]["generation.completed"] == {
        "messages": 1,
        "bytes": types["generation.completed"][1],
        "payload": 300,
    }
