"""`parley replay`: a conversation rebuilt from the event log alone equals what REST serves,
for completed, failed, cancelled, regenerated and restarted answers; ``--as-of`` goes back in time;
deleted sessions replay; an unknown session is one line and exit 2."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import httpx
import msgspec

from events import subjects
from events.streams import CHAT_STREAM
from projections import queries
from services import bus
from services.audit import reader
from services.audit.conversation import fold
from tests.test_chat import Conversation
from tests.test_projection_worker import publish, running


def conversation(user: str = "local") -> tuple[list, Conversation, dict]:
    """One session with every kind of answer, and one deleted session."""
    a, b = Conversation(user=user), Conversation(user=user)
    created = [a.created(), b.created()]
    first, u1, a1 = a.exchange("hello", ["Hel", "lo", " you"])
    again = a.requested(u1, regenerate=True, llm_model="other")
    a1b = again.message_id
    regen = [again, a.started(a1b, llm_model="other", worker_id="w2"), *a.chunks(a1b, ["Hi", "!"])]
    regen.append(a.completed(a1b, "Hi!", llm_model="other"))
    u2 = a.submitted("and then?")
    r2 = a.requested(u2.message_id)
    a2 = r2.message_id
    second = [u2, r2, a.started(a2, worker_id="w1"), *a.chunks(a2, ["old"]), a.restarted(a2, 2)]
    second += [a.started(a2, 2, worker_id="w2"), *a.chunks(a2, ["new ", "text"], attempt=2), a.failed(a2, attempt=2)]
    u3 = a.submitted("stop")
    r3 = a.requested(u3.message_id)
    a3 = r3.message_id
    third = [u3, r3, a.started(a3), *a.chunks(a3, ["par", "tial"]), a.cancel_requested(a3), a.cancelled(a3)]
    b_events, _, _ = b.exchange("hi", ["x"])
    events = [*created, *first, *regen, *second, *third, *b_events, b.deleted()]
    return events, a, {"a": a.sid, "b": b.sid, "a1": a1, "a1b": a1b, "a2": a2, "a3": a3}


def cli(nats, tmp_path, *args: str) -> subprocess.CompletedProcess:
    return cli_at(nats.url, tmp_path, *args)


def cli_at(nats_url: str, tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PARLEY_", "NATS_URL", "DATABASE_URL"))}
    env |= {"NATS_URL": nats_url, "PARLEY_DATA_DIR": str(tmp_path / "cli"), "PARLEY_LOG_FORMAT": "json"}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


async def test_replay_json_equals_rest_messages(nats, js, db, database_url, tmp_path, edge_factory):
    events, _, ids = conversation()
    async with running(nats, database_url, tmp_path):
        last = await publish(js, events)
        assert await queries.wait_for_seq(db, last, 10)
    url = edge_factory()
    async with httpx.AsyncClient(base_url=url) as client:
        rest = (await client.get(f"/api/v1/chat/sessions/{ids['a']}/messages", params={"branches": "all"})).json()
    assert [m["status"] for m in rest] == ["complete"] * 4 + ["failed", "complete", "cancelled"]

    done = cli(nats, tmp_path, "replay", ids["a"], "--format", "json")
    assert done.returncode == 0, done.stderr
    replayed = json.loads(done.stdout)
    assert replayed["messages"] == rest  # exactly, field for field
    assert replayed["through_seq"] == max(t["seq"] for t in replayed["timeline"])

    # What the read model folds away: attempts with workers, the restart, chunk offsets, ends.
    restarted = replayed["answers"][ids["a2"]]
    assert [(a["attempt"], a["worker_id"], a["restart_reason"]) for a in restarted["attempts"]] == [
        (1, "w1", None),
        (2, "w2", "worker lost"),
    ]
    assert ["".join(c["delta"] for c in a["chunks"]) for a in restarted["attempts"]] == ["old", "new text"]
    offsets = [c["offset_ms"] for a in restarted["attempts"] for c in a["chunks"]]
    assert offsets == sorted(offsets) and offsets[0] > 0
    assert (restarted["ended"], restarted["error_kind"]) == ("generation.failed", "provider_unavailable")
    assert replayed["answers"][ids["a1b"]]["regenerate"] is True
    cancelled = replayed["answers"][ids["a3"]]
    assert cancelled["cancel_requested_at"] is not None and cancelled["ended"] == "generation.cancelled"

    text = cli(nats, tmp_path, "replay", ids["a"])
    assert text.returncode == 0 and "attempt 2 (restart: worker lost)" in text.stdout and "'new '" in text.stdout
    md = cli(nats, tmp_path, "replay", ids["a"], "--format", "markdown")
    assert md.returncode == 0 and md.stdout.startswith("# Talk") and "## User" in md.stdout


async def test_deleted_sessions_replay_and_unknown_ones_exit_2(nats, js, tmp_path):
    events, _, ids = conversation()
    await publish(js, events)
    done = cli(nats, tmp_path, "replay", ids["b"], "--format", "json")
    assert done.returncode == 0, done.stderr
    replayed = json.loads(done.stdout)
    assert replayed["deleted"] is True and [m["content"] for m in replayed["messages"]] == ["hi", "x"]

    unknown = cli(nats, tmp_path, "replay", "00000000-0000-0000-0000-000000000000")
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert unknown.stderr.strip().splitlines() == [
        "parley replay: error: no events for session 00000000-0000-0000-0000-000000000000"
    ]
    bad = cli(nats, tmp_path, "replay", "not.a.session")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1


async def test_as_of_gives_the_earlier_state(nats, js, tmp_path):
    events, _, ids = conversation()
    # Stored in two rounds, apart in time: --as-of between them sees the first round only,
    # which ends inside the restarted answer's second attempt (after its chunk "new ").
    cut = next(i for i, e in enumerate(events) if getattr(e, "delta", None) == "new ") + 1
    await publish(js, events[:cut])
    await asyncio.sleep(0.05)
    between = datetime.now(UTC)
    await asyncio.sleep(0.05)
    await publish(js, events[cut:])

    stored = await reader.session(js, ids["a"])
    then, now = fold(ids["a"], stored, as_of=between), fold(ids["a"], stored)
    then_msgs = {m["id"]: m for m in then.messages()}
    assert len(then.messages()) == 5 and len(now.messages()) == 7
    assert (then_msgs[ids["a2"]]["status"], then_msgs[ids["a2"]]["content"]) == ("streaming", "new ")
    assert then.answers[ids["a2"]].ended is None and now.answers[ids["a2"]].ended == "generation.failed"

    done = cli(nats, tmp_path, "replay", ids["a"], "--format", "json", "--as-of", between.isoformat())
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["messages"] == json.loads(msgspec.json.encode(then.messages()))


async def test_follow_prints_new_events_and_speed_replays_the_tokens(nats, js, tmp_path):
    events, conv, ids = conversation()
    await publish(js, events)
    played = cli(nats, tmp_path, "replay", ids["a"], "--speed", "50")
    assert played.returncode == 0, played.stderr
    assert "assistant: Hel" in played.stdout and "lo you  [complete]" in played.stdout
    assert "assistant: oldnew text  [failed]" not in played.stdout  # only the last attempt is played
    assert "assistant: new text  [failed]" in played.stdout

    env = {k: v for k, v in os.environ.items() if not k.startswith(("PARLEY_", "NATS_URL", "DATABASE_URL"))}
    env |= {"NATS_URL": nats.url, "PARLEY_DATA_DIR": str(tmp_path / "cli"), "PARLEY_LOG_FORMAT": "json"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", "replay", ids["a"], "--follow",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        # The whole conversation first, then one line per new event as it is stored.
        seen = ""
        while "[" not in seen or "cancelled" not in seen:
            seen += (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        late = conv.submitted("one more")
        seq = await publish(js, [late])
        line = ""
        while "message.submitted" not in line:
            line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert line.startswith(f"#{seq} ") and late.message_id in line
    finally:
        proc.terminate()
        await proc.wait()


async def test_token_timing_survives_the_sweep_of_the_short_lived_deltas(make_system, tmp_path):
    """Deltas are purged after their retention; the terminal event's token timing then replays the
    answer from the permanent log alone, each token within a millisecond of its delta."""
    system = make_system()
    async with httpx.AsyncClient(base_url=system.edge_urls[0], timeout=30) as client:
        sid = (await client.post("/api/v1/chat/sessions", json={"title": "timed"})).json()["id"]
        sent = (
            await client.post(f"/api/v1/chat/sessions/{sid}/messages", json={"content": "[[tokens:20]] [[rate:40]]"})
        ).json()
        answer_id = sent["answer_message_id"]
        async with asyncio.timeout(30):
            while True:
                rest = (await client.get(f"/api/v1/chat/sessions/{sid}/messages")).json()
                if any(m["id"] == answer_id and m["status"] == "complete" for m in rest):
                    break
                await asyncio.sleep(0.1)
    nc = await bus.connect(system.nats_url, "test")
    try:
        js = nc.jetstream()
        before = fold(sid, await reader.session(js, sid)).answers[answer_id].attempts[-1]
        assert await nc.jsm().purge_stream(CHAT_STREAM, subject=subjects.DELTAS)
        after = fold(sid, await reader.session(js, sid)).answers[answer_id].attempts[-1]
    finally:
        await nc.close()
    assert len(before.chunks) >= 2 and after.chunks == []  # the deltas are gone from the log
    assert after.tokens == before.tokens and len(after.tokens) == 20
    content = next(m["content"] for m in rest if m["id"] == answer_id)
    assert "".join(t.text for t in after.tokens) == content
    previous = None
    for chunk in before.chunks:
        mine = [t for t in after.tokens if t.chunk == chunk.index]
        assert "".join(t.text for t in mine) == chunk.delta
        # Each token was received after the previous delta went out and before its own did (a
        # delta is stored when cut: at its last token, or on the coalescer's timer): 1 ms rounding.
        for t in mine:
            assert t.offset_ms <= chunk.offset_ms + 1
            assert previous is None or t.offset_ms >= previous - 1
        previous = chunk.offset_ms
    offsets = [t.offset_ms for t in after.tokens]
    assert offsets == sorted(offsets) and offsets[-1] - offsets[0] >= 300  # 20 tokens at 40/s really took time

    done = cli_at(system.nats_url, tmp_path, "replay", sid, "--format", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["messages"] == rest  # still exactly the REST messages
