"""The sealer on a live stream, and `parley audit verify` against real tampering: a message
deleted through JetStream's delete-message API, one replaced (purged, then a forged event with the
same id published), the tail truncated. Each is found, at the right stream sequence."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from contextlib import asynccontextmanager

import msgspec

from events import codec, subjects
from events.schema import GenerationDelta, GenerationRequested, SessionCreated
from events.streams import AUDIT_CHECKPOINTS, AUDIT_STREAM, CHAT_STREAM
from services.audit import chain, keys, seal
from services.settings import load
from tests.test_audit_replay import conversation
from tests.test_projection_worker import publish


def settings_for(nats, tmp_path, **extra):
    return load(
        {
            "NATS_URL": nats.url,
            "PARLEY_DATA_DIR": str(tmp_path / "data"),
            "PARLEY_AUDIT_CHECKPOINT_EVENTS": "5",
            "PARLEY_AUDIT_CHECKPOINT_S": "0.2",
            **extra,
        }
    )


@asynccontextmanager
async def sealing(settings):
    stop = asyncio.Event()
    task = asyncio.create_task(seal.serve(settings, stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)


async def sealed_through(js, settings, seq: int, within: float = 20.0) -> chain.Checkpoint:
    public = keys.private(settings).public_key()
    for _ in range(int(within * 20)):
        try:
            msg = await js.get_last_msg(AUDIT_STREAM, AUDIT_CHECKPOINTS)
            cp = chain.open_signed(msg.data, public)
            if cp.through_seq >= seq:
                return cp
        except Exception:
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"nothing sealed through {seq}")


def verify(nats, tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PARLEY_", "NATS_URL", "DATABASE_URL"))}
    env |= {"NATS_URL": nats.url, "PARLEY_DATA_DIR": str(tmp_path / "data"), "PARLEY_LOG_FORMAT": "json"}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "audit", *args], env=env, capture_output=True, text=True, timeout=60
    )


def last_line(done: subprocess.CompletedProcess) -> str:
    return done.stdout.strip().splitlines()[-1]


async def test_a_sealed_log_verifies_and_a_deleted_message_is_named(nats, js, nc, tmp_path):
    settings = settings_for(nats, tmp_path)
    events, _, ids = conversation()
    async with sealing(settings):
        last = await publish(js, events)
        cp = await sealed_through(js, settings, last)
    assert cp.count == last and cp.number >= last // 5
    key_file = keys.path(settings)
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600

    pub = verify(nats, tmp_path, "pubkey")
    assert pub.returncode == 0 and pub.stdout.startswith("-----BEGIN PUBLIC KEY-----")
    (tmp_path / "pub.pem").write_text(pub.stdout)
    ok = verify(nats, tmp_path, "verify", "--pubkey", str(tmp_path / "pub.pem"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert last_line(ok) == f"audit: OK {last} events, sealed through seq {last}"
    one = verify(nats, tmp_path, "verify", "--session", ids["b"])
    assert one.returncode == 0 and last_line(one).startswith("audit: OK 7 events")

    # Someone deletes a message through JetStream's API.
    assert await nc.jsm().delete_msg(CHAT_STREAM, 9)
    bad = verify(nats, tmp_path, "verify", "--pubkey", str(tmp_path / "pub.pem"))
    assert bad.returncode == 1
    assert last_line(bad).startswith("audit: FAILED at stream seq 9: deleted")
    # Session a held seq 9; session b's events are still intact.
    assert verify(nats, tmp_path, "verify", "--session", ids["a"]).returncode == 1
    assert verify(nats, tmp_path, "verify", "--session", ids["b"]).returncode == 0

    # A key that did not sign the checkpoints proves nothing.
    other = verify(nats, tmp_path / "elsewhere", "pubkey")
    (tmp_path / "other.pem").write_text(other.stdout)
    wrong = verify(nats, tmp_path, "verify", "--pubkey", str(tmp_path / "other.pem"))
    assert wrong.returncode == 1 and "signature does not verify" in last_line(wrong)


async def test_a_replaced_event_is_named(nats, js, nc, tmp_path):
    settings = settings_for(nats, tmp_path)
    events, _, ids = conversation()
    async with sealing(settings):
        last = await publish(js, events)
        await sealed_through(js, settings, last)
        # Replace session a's session.created (stream seq 1): purge it, publish a forged copy with
        # the same event id and another title. The sealer is still running and seals the forgery too.
        original = await js.get_msg(CHAT_STREAM, 1)
        assert await nc.jsm().purge_stream(CHAT_STREAM, subject=original.subject)
        forged = msgspec.structs.replace(codec.decode(original.data, original.subject), title="Nothing to see")
        assert isinstance(forged, SessionCreated)
        ack = await js.publish(original.subject, codec.encode(forged), stream=CHAT_STREAM)
        await sealed_through(js, settings, ack.seq)
    bad = verify(nats, tmp_path, "verify")
    assert bad.returncode == 1 and last_line(bad).startswith("audit: FAILED at stream seq 1: deleted"), bad.stdout
    one = verify(nats, tmp_path, "verify", "--session", ids["a"])
    assert last_line(one).startswith("audit: FAILED at stream seq 1: deleted")


async def test_a_truncated_tail_is_named_and_a_restarted_sealer_continues(nats, js, nc, tmp_path):
    settings = settings_for(nats, tmp_path)
    events, _, _ = conversation()
    async with sealing(settings):
        middle = await publish(js, events[:20])
        await sealed_through(js, settings, middle)
    async with sealing(settings):  # a new sealer continues the same chain
        last = await publish(js, events[20:])
        cp = await sealed_through(js, settings, last)
    assert cp.count == last
    assert verify(nats, tmp_path, "verify").returncode == 0
    for seq in range(last - 2, last + 1):  # the last three events go
        assert await nc.jsm().delete_msg(CHAT_STREAM, seq)
    bad = verify(nats, tmp_path, "verify")
    assert bad.returncode == 1 and last_line(bad).startswith(f"audit: FAILED at stream seq {last - 2}: deleted")


async def test_swept_deltas_are_outside_the_chain(nats, js, nc, tmp_path):
    settings = settings_for(nats, tmp_path)
    events, conv, _ = conversation()
    answer = next(e for e in events if isinstance(e, GenerationRequested))
    deltas = [
        GenerationDelta(
            message_id=answer.message_id, index=i, token_index=i, delta=f"t{i}", occurred_at=conv.t, session_id=conv.sid
        )
        for i in range(3)
    ]
    async with sealing(settings):
        await publish(js, events[:5])
        for delta in deltas:  # as generation stores them: lean, no headers
            await js.publish(subjects.for_event(delta), codec.encode(delta), stream=CHAT_STREAM)
        last = await publish(js, events[5:])
        cp = await sealed_through(js, settings, last)
    assert cp.count == len(events)  # the deltas are not sealed
    assert await nc.jsm().purge_stream(CHAT_STREAM, subject=subjects.DELTAS)  # the sweeper's purge
    ok = verify(nats, tmp_path, "verify")
    assert ok.returncode == 0 and last_line(ok) == f"audit: OK {len(events)} events, sealed through seq {last}"
