"""The projection worker against real NATS and real PostgreSQL: rows from events, exactly once,
through crashes (a real process killed with SIGKILL between apply and commit, and between commit
and ack), dead letters, deletes, in-flight answers, read-your-writes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

from events.streams import CHAT_STREAM
from projections import queries
from projections.chat import CHAT
from projections.main import serve
from projections.worker import Worker
from services import bus
from services.settings import load
from tests.test_batch import dump
from tests.test_chat import Conversation


async def publish(js, events) -> int:
    """Store events in order; the last stream sequence."""
    seq = 0
    for event in events:
        seq = (await bus.publish(js, event)).seq
    return seq


def conversation_events() -> tuple[list, Conversation, dict]:
    """Two sessions: answers completed, failed, cancelled, restarted; one session deleted."""
    a, b = Conversation(user="alice"), Conversation(user="bob")
    first, u1, a1 = a.exchange("hello", ["Hel", "lo", " you"])
    u2 = a.submitted("and then?")
    r2 = a.requested(u2.message_id)
    a2 = r2.message_id
    second = [
        u2,
        r2,
        a.started(a2),
        *a.chunks(a2, ["old"]),
        a.restarted(a2, 2),
        a.started(a2, 2),
        *a.chunks(a2, ["new ", "text"], attempt=2),
        a.failed(a2, attempt=2),
    ]
    b_events, _, b1 = b.exchange("hi bob", ["x"])
    ub = b.submitted("stop it")
    rb = b.requested(ub.message_id)
    bye = [ub, rb, b.started(rb.message_id), *b.chunks(rb.message_id, ["par", "tial"])]
    bye += [b.cancel_requested(rb.message_id), b.cancelled(rb.message_id), b.deleted()]
    events = [a.created(), b.created(), *first, *second, *b_events, *bye]
    ids = {"a": a.sid, "b": b.sid, "u1": u1, "a1": a1, "a2": a2, "b1": b1, "bye": rb.message_id}
    return events, a, ids


@asynccontextmanager
async def running(nats, database_url, tmp_path, **env):
    """``serve`` (what ``parley projections`` runs) in this process."""
    settings = load(
        {
            "NATS_URL": nats.url,
            "DATABASE_URL": database_url,
            "PARLEY_DATA_DIR": str(tmp_path / "data"),
            "PARLEY_PROJECTION_FLUSH_MS": "50",
            **env,
        }
    )
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, stop))
    try:
        yield task
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


@asynccontextmanager
async def worker_running(js, database_url: str, catch_up_from: int | None = None, **options):
    """One chat ``Worker`` (``options``: flush_s, settle_s, …) applying in this process."""
    import asyncpg

    conn = await asyncpg.connect(database_url)
    worker = Worker(js, conn, projection=CHAT, **options)
    if catch_up_from is not None:
        worker.catch_up_from = catch_up_from
    await worker.sync()
    stop = asyncio.Event()
    task = asyncio.create_task(worker.run(stop))
    try:
        yield worker
    finally:
        stop.set()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await conn.close()


def start_process(nats, database_url: str, tmp_path: Path, *args: str, **env: str) -> subprocess.Popen:
    """``parley projections`` as a real process, as an operator runs it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PARLEY_", "NATS_URL", "DATABASE_URL"))}
    clean |= {
        "NATS_URL": nats.url,
        "DATABASE_URL": database_url,
        "PARLEY_DATA_DIR": str(tmp_path / "data"),
        "PARLEY_LOG_FORMAT": "json",
        "PARLEY_PROJECTION_FLUSH_MS": "50",
        **env,
    }
    log = open(tmp_path / "projections.log", "ab")
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "services.cli", "projections", *args],
            env=clean,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    finally:
        log.close()


async def wait_exit(proc: subprocess.Popen, within: float = 60.0) -> int:
    for _ in range(int(within * 20)):
        if proc.poll() is not None:
            return proc.returncode
        await asyncio.sleep(0.05)
    proc.kill()
    raise AssertionError("the projection worker did not exit")


async def test_a_conversation_yields_the_expected_rows(nats, js, db, database_url, tmp_path):
    events, _, ids = conversation_events()
    async with running(nats, database_url, tmp_path):
        last = await publish(js, events)
        assert await queries.wait_for_seq(db, last, 10)

    alice = await queries.list_sessions(db, "alice")
    assert [(s["id"], s["message_count"], s["last_seq"]) for s in alice] == [(ids["a"], 4, alice[0]["last_seq"])]
    page, seq = await queries.list_messages(db, ids["a"])
    assert seq == last
    assert [(m["role"], m["status"], m["content"], m["attempt"]) for m in page] == [
        ("user", "complete", "hello", 1),
        ("assistant", "complete", "Hello you", 1),
        ("user", "complete", "and then?", 1),
        ("assistant", "failed", "new text", 2),
    ]
    assert page[1]["reply_to"] == ids["u1"] and page[1]["tokens_used"] == 10
    assert page[3]["error_kind"] == "provider_unavailable" and page[3]["error_message"] == "connection refused"
    # bob's session was deleted: hidden from lists and message reads, still readable as inactive.
    assert await queries.list_sessions(db, "bob") == []
    assert (await queries.get_session(db, ids["b"]))["is_active"] is False
    assert await queries.list_messages(db, ids["b"]) == ([], last)
    assert await queries.get_message(db, ids["bye"]) is None
    cancelled = await db.fetchrow("SELECT status, content FROM messages WHERE id = $1", uuid.UUID(ids["bye"]))
    assert tuple(cancelled) == ("cancelled", "partial")


async def test_in_flight_answers_show_while_streaming(nats, js, db, database_url, tmp_path):
    c = Conversation()
    user = c.submitted("q")
    req = c.requested(user.message_id)
    mid = req.message_id
    async with running(nats, database_url, tmp_path, PARLEY_PROJECTION_FLUSH_MS="250"):
        await publish(js, [c.created(), user, req])
        seq = await publish(js, [c.started(mid), *c.chunks(mid, ["Str", "eam"])])
        # Nothing else arrives: a quiet stream still reaches Postgres within about a second.
        assert await queries.wait_for_seq(db, seq, 2.0)
        msg = await queries.get_message(db, mid)
        assert (msg["status"], msg["is_streaming"], msg["content"]) == ("streaming", True, "Stream")
        seq = await publish(js, [*c.chunks(mid, ["ing"], first=2), c.completed(mid, "Streaming")])
        assert await queries.wait_for_seq(db, seq, 2.0)
        msg = await queries.get_message(db, mid)
        assert (msg["status"], msg["is_streaming"], msg["content"]) == ("complete", False, "Streaming")


async def test_chunks_of_a_batch_are_one_row_write(nats, js, db, database_url, tmp_path):
    c = Conversation()
    user = c.submitted("q")
    req = c.requested(user.message_id)
    mid = req.message_id
    last = await publish(js, [c.created(), user, req, c.started(mid), *c.chunks(mid, ["t"] * 200)])
    written = "SELECT n_tup_upd + n_tup_ins FROM pg_stat_user_tables WHERE relname = 'messages'"
    before = await db.fetchval(written)
    async with running(nats, database_url, tmp_path, PARLEY_PROJECTION_BATCH="50"):
        assert await queries.wait_for_seq(db, last, 10)
    assert (await queries.get_message(db, mid))["content"] == "t" * 200
    # 205 events in 5 batches: 2 inserts and about one update of the answer per batch, not one per
    # chunk. (Statistics reach pg_stat_user_tables when the worker's backend flushes them.)
    for _ in range(30):
        after = await db.fetchval(written)
        if after - before > 2:
            break
        await asyncio.sleep(0.1)
    assert 2 < after - before <= 2 + 5


async def test_a_malformed_event_is_a_dead_letter_and_the_rest_applies(nats, nc, js, db, database_url, tmp_path):
    c = Conversation()
    async with running(nats, database_url, tmp_path):
        await publish(js, [c.created()])
        # On a subject every projection reads (usage reads only the answers' requests and ends).
        bad = await js.publish(f"parley.chat.{c.sid}.generation.completed", b"{not json", stream=CHAT_STREAM)
        after = c.submitted("still here")
        last = await publish(js, [after])
        assert await queries.wait_for_seq(db, last, 10)
        await asyncio.sleep(0.3)  # acks are sent after commit
        info = await js.consumer_info(CHAT_STREAM, CHAT.durable)
    dead = await db.fetch("SELECT projection, stream_seq, subject, payload, reason FROM projection_dead_letters")
    # Each projection records it (they are independent readers of the stream).
    assert sorted((d["projection"], d["stream_seq"], d["subject"], d["payload"]) for d in dead) == [
        (name, bad.seq, f"parley.chat.{c.sid}.generation.completed", b"{not json") for name in ("chat", "usage")
    ]
    assert "malformed event JSON" in dead[0]["reason"]
    assert [m["content"] for m in (await queries.list_messages(db, c.sid))[0]] == ["still here"]
    assert info.num_ack_pending == 0 and info.ack_floor.stream_seq == last  # terminated, not pending


async def test_a_rebuild_while_the_worker_runs_is_replayed_by_it(nats, js, db, database_url, tmp_path):
    events, _, _ = conversation_events()
    async with running(nats, database_url, tmp_path):
        last = await publish(js, events)
        for name in ("chat", "usage"):
            assert await queries.wait_for_seq(db, last, 10, projection=name)
        incremental = await dump(db)
        proc = start_process(nats, database_url, tmp_path, "rebuild")
        assert await wait_exit(proc) == 0, (tmp_path / "projections.log").read_text()
        for name in ("chat", "usage"):
            assert await queries.wait_for_seq(db, last, 10, projection=name)
        assert await dump(db) == incremental
    assert "replayed by the running worker" in (tmp_path / "projections.log").read_text()


async def logged(tmp_path: Path, text: str, count: int = 1, within: float = 30.0) -> None:
    """Wait until the projections log holds ``text`` ``count`` times (a loaded machine starts slowly)."""
    log = tmp_path / "projections.log"
    for _ in range(int(within * 10)):
        if log.exists() and log.read_text().count(text) >= count:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{text!r} not logged {count}x within {within} s")


async def test_a_second_worker_stands_by(nats, js, db, database_url, tmp_path):
    c = Conversation()
    async with running(nats, database_url, tmp_path) as first:
        standby = start_process(nats, database_url, tmp_path)
        try:
            await logged(tmp_path, "standing by")
            last = await publish(js, [c.created(), c.submitted("once")])
            assert await queries.wait_for_seq(db, last, 10)
        finally:
            standby.send_signal(signal.SIGTERM)
            assert await wait_exit(standby, 15) == 0
        assert not first.done()
    assert (await queries.get_session(db, c.sid))["message_count"] == 1


async def _crash_and_recover(nats, js, db, database_url, tmp_path, fault: str, committed_after_crash: int):
    events, _, ids = conversation_events()
    last = await publish(js, events)
    # The fault kills the process at the 2nd batch of a projection: only the chat one runs here, so
    # which batch dies is certain; the recovering process below runs them all.
    proc = start_process(
        nats,
        database_url,
        tmp_path,
        PARLEY_PROJECTION_BATCH="4",
        PARLEY_PROJECTION_FAULT=fault,
        PARLEY_PROJECTIONS="chat",
    )
    assert await wait_exit(proc) == -signal.SIGKILL, (tmp_path / "projections.log").read_text()
    assert await queries.checkpoint(db) == committed_after_crash
    info = await js.consumer_info(CHAT_STREAM, CHAT.durable)
    if fault.startswith("after_commit"):
        assert info.ack_floor.stream_seq < committed_after_crash  # committed, never acked

    proc = start_process(nats, database_url, tmp_path, PARLEY_PROJECTION_BATCH="4")
    try:
        for name in ("chat", "usage"):
            assert await queries.wait_for_seq(db, last, 20, projection=name), (tmp_path / "projections.log").read_text()
        recovered = await dump(db)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await wait_exit(proc, 15) == 0

    # The reference: the same stream applied from scratch in one go.
    rebuild = start_process(nats, database_url, tmp_path, "rebuild")
    assert await wait_exit(rebuild) == 0
    assert await dump(db) == recovered
    page, _ = await queries.list_messages(db, ids["a"])
    assert [m["content"] for m in page] == ["hello", "Hello you", "and then?", "new text"]
    assert recovered["dead"] == []


async def test_killed_between_commit_and_ack_loses_and_doubles_nothing(nats, js, db, database_url, tmp_path):
    # Batches of 4; the 2nd is committed (checkpoint 8), then the process dies before acking it.
    await _crash_and_recover(nats, js, db, database_url, tmp_path, "after_commit:2", 8)


async def test_killed_between_apply_and_commit_loses_and_doubles_nothing(nats, js, db, database_url, tmp_path):
    # The 2nd batch's rows are written but not committed when the process dies: checkpoint stays 4.
    await _crash_and_recover(nats, js, db, database_url, tmp_path, "after_apply:2", 4)


async def test_sigterm_stops_the_worker_cleanly(nats, js, database_url, tmp_path):
    proc = start_process(nats, database_url, tmp_path)
    c = Conversation()
    await publish(js, [c.created()])
    await logged(tmp_path, "projection worker started", count=2)  # chat and usage
    proc.send_signal(signal.SIGTERM)
    assert await wait_exit(proc, 15) == 0
    assert "projection worker stopped" in (tmp_path / "projections.log").read_text()


async def test_a_bad_fault_setting_is_refused_by_name(nats, database_url, tmp_path):
    proc = start_process(nats, database_url, tmp_path, PARLEY_PROJECTION_FAULT="sometimes")
    assert await wait_exit(proc, 30) == 2
    assert "PARLEY_PROJECTION_FAULT" in (tmp_path / "projections.log").read_text()


async def test_a_checkpoint_past_the_stream_is_refused(nats, js, db, database_url, tmp_path):
    await db.execute("INSERT INTO projection_checkpoints (projection, last_stream_seq) VALUES ('chat', 99)")
    proc = start_process(nats, database_url, tmp_path)
    assert await wait_exit(proc, 30) == 2
    assert "past the end of stream" in (tmp_path / "projections.log").read_text()


async def test_the_worker_survives_a_nats_restart(nats, js, db, database_url, tmp_path):
    c = Conversation()
    async with running(nats, database_url, tmp_path) as task:
        last = await publish(js, [c.created(), c.submitted("before")])
        assert await queries.wait_for_seq(db, last, 10)
        nats.restart()
        # The test's own client reconnects too; publish once it is back.
        for _ in range(100):
            try:
                last = await publish(js, [c.submitted("after")])
                break
            except Exception:
                await asyncio.sleep(0.1)
        assert await queries.wait_for_seq(db, last, 20)
        assert not task.done()
    page, _ = await queries.list_messages(db, c.sid)
    assert [m["content"] for m in page] == ["before", "after"]


async def test_the_worker_survives_a_database_outage(nats, js, db, database_url, tmp_path):
    c = Conversation()
    async with running(nats, database_url, tmp_path) as task:
        last = await publish(js, [c.created(), c.submitted("before")])
        assert await queries.wait_for_seq(db, last, 10)
        # Cut the worker's connection (the one holding the projection's lock) while events keep coming.
        killed = await db.fetchval(
            "SELECT bool_and(pg_terminate_backend(pid)) FROM pg_locks WHERE locktype = 'advisory' AND granted"
        )
        assert killed is True
        last = await publish(js, [c.submitted("during"), c.submitted("after")])
        assert await queries.wait_for_seq(db, last, 20)
        assert not task.done()
    page, _ = await queries.list_messages(db, c.sid)
    assert [m["content"] for m in page] == ["before", "during", "after"]


async def test_token_chunks_are_gathered_for_a_flush_and_anything_else_goes_at_once(nats, js, db, database_url):
    c = Conversation()
    user = c.submitted("q")
    answer = c.requested(user.message_id)
    mid = answer.message_id
    # A flush far longer than this test may take: only the gathering can keep the chunks together.
    async with worker_running(js, database_url, flush_s=30.0) as worker:
        opening = await publish(js, [c.created(), user, answer, c.started(mid)])
        assert await queries.wait_for_seq(db, opening, 10)  # no chunk among them: applied at once
        opened = worker.batches
        for chunk in c.chunks(mid, [f"t{i} " for i in range(12)]):  # a token every 30 ms
            await publish(js, [chunk])
            await asyncio.sleep(0.03)
        done = await publish(js, [c.completed(mid, "".join(f"t{i} " for i in range(12)))])
        # The end is applied without waiting out the flush, together with the chunks before it.
        assert await queries.wait_for_seq(db, done, 10)
        assert worker.batches - opened <= 2
        page, _ = await queries.list_messages(db, c.sid)
        assert [m["content"] for m in page] == ["q", "".join(f"t{i} " for i in range(12))]


async def test_a_send_s_events_settle_into_one_transaction(nats, js, db, database_url):
    c = Conversation()
    user = c.submitted("q")
    answer = c.requested(user.message_id)
    # A settle window far longer than this test's gaps: only the settling can keep them together.
    async with worker_running(js, database_url, flush_s=30.0, settle_s=2.0) as worker:
        await publish(js, [c.created(), user])
        await asyncio.sleep(0.1)
        last = await publish(js, [answer, c.started(answer.message_id)])
        assert await queries.wait_for_seq(db, last, 10)
        assert worker.batches == 1
        page, _ = await queries.list_messages(db, c.sid)
        assert [m["content"] for m in page] == ["q", ""]


async def test_token_deltas_are_not_delivered_and_the_checkpoint_moves_over_them(nats, js, db, database_url):
    c = Conversation()
    user = c.submitted("q")
    answer = c.requested(user.message_id)
    mid = answer.message_id
    async with worker_running(js, database_url, flush_s=0.2) as worker:
        opening = await publish(js, [c.created(), user, answer, c.started(mid)])
        assert await queries.wait_for_seq(db, opening, 10)
        batches = worker.batches
        last = await publish(js, c.deltas(mid, ["Str", "eam", "ing"]))
        # Idle: the checkpoint moves past the deltas within about a flush, with no batch applied
        # (a read given a delta's sequence waits no longer than it did when deltas were applied).
        assert await queries.wait_for_seq(db, last, 5)
        assert worker.batches == batches
        msg = await queries.get_message(db, mid)
        assert (msg["status"], msg["content"], msg["last_seq"]) == ("streaming", "", opening)
        done = await publish(js, [c.completed(mid, "Streaming")])
        assert await queries.wait_for_seq(db, done, 10)
        msg = await queries.get_message(db, mid)
        assert (msg["status"], msg["content"], msg["last_seq"]) == ("complete", "Streaming", done)


async def test_a_long_backlog_is_read_unfiltered_and_the_worker_goes_on(nats, js, db, database_url):
    c = Conversation()
    user = c.submitted("q")
    answer = c.requested(user.message_id)
    mid = answer.message_id
    async with worker_running(js, database_url):
        opening = await publish(js, [c.created(), user, answer])
        assert await queries.wait_for_seq(db, opening, 10)
    # Stopped meanwhile: an answer streams and ends, then another message arrives.
    pieces = [f"t{i} " for i in range(40)]
    await publish(js, [c.started(mid), *c.deltas(mid, pieces), c.completed(mid, "".join(pieces))])
    backlog = await publish(js, [c.submitted("next")])
    async with worker_running(js, database_url, catch_up_from=10) as worker:
        assert worker.checkpoint == backlog  # caught up in sync(), before the consumer was made
        page, _ = await queries.list_messages(db, c.sid)
        assert [(m["content"], m["status"]) for m in page] == [
            ("q", "complete"),
            ("".join(pieces), "complete"),
            ("next", "complete"),
        ]
        # The durable consumer goes on from there, filtered.
        later = await publish(js, [c.submitted("later")])
        assert await queries.wait_for_seq(db, later, 10)
        info = await js.consumer_info(CHAT_STREAM, CHAT.durable)
        assert info.config.filter_subjects == list(CHAT.filter_subjects) and info.delivered.stream_seq == later
