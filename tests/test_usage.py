"""The usage projection: pure counting, equal to a rebuild, matching the completed events, and
served by GET /api/v1/usage (own usage; admins see everyone's)."""

from __future__ import annotations

from datetime import timedelta

import httpx

from events.schema import GenerationChunk, GenerationCompleted, Timings, Usage
from events.streams import CHAT_STREAM
from projections import lag, queries, usage
from projections.usage import USAGE
from projections.worker import Worker
from services.audit import reader
from tests.test_chat import T0, Conversation
from tests.test_edge_access import SECRET, token
from tests.test_projection_worker import publish, running, start_process, wait_exit


def fold(events):
    rows = USAGE.empty()
    for seq, event in enumerate(events, 1):
        USAGE.apply(rows, seq, event)
    return rows


def hours(rows) -> list[usage.UsageHour]:
    return sorted(rows.tables[usage.HOURS.name].values(), key=lambda h: h.id)


def answers(c: Conversation, user_prompt: str = "q"):
    """One answer each: completed (2 ways), failed, cancelled; and an imported one."""
    events, _, _ = c.exchange(user_prompt, ["a", "b"])
    u2 = c.submitted("again")
    r2 = c.requested(u2.message_id)
    fast = c.completed(
        r2.message_id,
        "x",
        llm_model="big",
        usage=Usage(prompt_tokens=1, completion_tokens=2),
        timings=Timings(time_to_first_token_ms=3000, total_ms=70000),
    )
    events += [u2, r2, c.started(r2.message_id, llm_model="big"), fast]
    u3 = c.submitted("fail")
    r3 = c.requested(u3.message_id)
    events += [
        u3,
        r3,
        c.started(r3.message_id),
        c.failed(r3.message_id, llm_provider="local", llm_model="smol", error_kind="timeout"),
    ]
    u4 = c.submitted("stop")
    r4 = c.requested(u4.message_id)
    events += [u4, r4, c.cancel_requested(r4.message_id), c.cancelled(r4.message_id)]  # before any start
    u5 = c.submitted("imported")
    r5 = c.requested(u5.message_id, imported=True)
    events += [u5, r5, c.completed(r5.message_id, "copied")]
    return events


def test_each_answer_counts_once_where_it_ended():
    c = Conversation(user="ann")
    events = [c.created(), *answers(c)]
    # A late second end of the first answer changes nothing: the first end wins.
    first = next(e for e in events if isinstance(e, GenerationCompleted))
    events.append(c.cancelled(first.message_id))
    rows = hours(fold(events))
    hour = T0.replace(minute=0, second=0, microsecond=0)
    assert [(h.user_id, h.llm_provider, h.llm_model, h.hour) for h in rows] == [
        ("ann", "local", "big", hour),
        ("ann", "local", "smol", hour),
        ("ann", "unknown", "unknown", hour),  # cancelled before any provider was chosen
    ]
    big, smol, unknown = rows
    assert (big.answers, big.completed, big.prompt_tokens, big.completion_tokens) == (1, 1, 1, 2)
    assert (big.ttft_hist, big.total_hist) == ({"le_5000": 1}, {"le_inf": 1})
    assert (smol.answers, smol.completed, smol.failed, smol.errors) == (2, 1, 1, {"timeout": 1})
    assert (smol.prompt_tokens, smol.completion_tokens, smol.ttft_sum_ms, smol.total_sum_ms) == (7, 3, 40, 900)
    assert (smol.ttft_hist, smol.total_hist) == ({"le_50": 1}, {"le_1000": 1})
    assert (unknown.answers, unknown.cancelled) == (1, 1)
    assert sum(h.answers for h in rows) == 4  # the imported answer is not usage


def test_hours_and_users_are_apart():
    a, b = Conversation(user="ann"), Conversation(user="bob", t0=T0 + timedelta(hours=1))
    rows = hours(fold([a.created(), b.created(), *a.exchange("x", ["1"])[0], *b.exchange("y", ["2"])[0]]))
    assert [(h.user_id, h.hour.hour) for h in rows] == [("ann", 3), ("bob", 4)]


async def test_usage_equals_a_rebuild_matches_the_events_and_is_served(
    nats, js, db, database_url, tmp_path, edge_factory
):
    ann, bob = Conversation(user="ann"), Conversation(user="bob")
    events = [ann.created(), bob.created(), *answers(ann), *answers(bob, "other")]
    async with running(nats, database_url, tmp_path, PARLEY_PROJECTION_BATCH="3"):
        last = await publish(js, events)
        assert await queries.wait_for_seq(db, last, 10, projection="usage")
    incremental = [tuple(r) for r in await db.fetch("SELECT * FROM usage_hourly ORDER BY id")]
    proc = start_process(nats, database_url, tmp_path, "rebuild")
    assert await wait_exit(proc) == 0, (tmp_path / "projections.log").read_text()
    assert "rebuilt usage" in (tmp_path / "projections.log").read_text()
    assert [tuple(r) for r in await db.fetch("SELECT * FROM usage_hourly ORDER BY id")] == incremental

    # The completed events, read from the stream, against what the API serves.
    stored = [e.event async for e in reader.read(js, "parley.chat.*.generation.completed")]
    imported = {e.message_id for e in events if getattr(e, "imported", False)}
    counted = [e for e in stored if e.message_id not in imported]
    url = edge_factory(PARLEY_JWT_SECRET=SECRET, PARLEY_ADMIN_USERS="root")
    span = {"from": T0.isoformat(), "to": (T0 + timedelta(hours=2)).isoformat()}
    async with httpx.AsyncClient(base_url=url) as client:
        mine = (
            await client.get("/api/v1/usage", params=span, headers={"Authorization": f"Bearer {token('ann')}"})
        ).json()
        assert mine["scope"] == "own" and {g["key"] for g in mine["groups"]} == {
            "local/big",
            "local/smol",
            "unknown/unknown",
        }
        ann_done = [e for e in counted if e.user_id == "ann"]
        assert mine["totals"]["completed"] == len(ann_done)
        assert mine["totals"]["completion_tokens"] == sum(e.usage.completion_tokens for e in ann_done)
        assert mine["totals"]["errors"] == {"timeout": 1} and mine["totals"]["cancelled"] == 1

        root = {"Authorization": f"Bearer {token('root')}"}
        everyone = (await client.get("/api/v1/usage", params={**span, "group_by": "user"}, headers=root)).json()
        assert everyone["scope"] == "all" and [g["key"] for g in everyone["groups"]] == ["ann", "bob"]
        assert everyone["totals"]["completed"] == len(counted)
        assert everyone["totals"]["prompt_tokens"] == sum(e.usage.prompt_tokens for e in counted)
        timing = everyone["totals"]["total_time"]
        assert timing["count"] == len(counted) and timing["mean_ms"] == round(
            sum(e.timings.total_ms for e in counted) / len(counted)
        )
        by_hour = (await client.get("/api/v1/usage", params={**span, "group_by": "hour"}, headers=root)).json()
        assert [g["key"] for g in by_hour["groups"]] == ["2026-01-02T03:00:00Z"]
        # Outside the range: nothing.
        later = {"from": (T0 + timedelta(days=1)).isoformat(), "to": (T0 + timedelta(days=2)).isoformat()}
        assert (await client.get("/api/v1/usage", params=later, headers=root)).json()["groups"] == []
        for bad in (
            {"group_by": "color"},
            {"from": "yesterday"},
            {"from": span["to"], "to": span["from"]},
            {"from": "2026-01-02T03:00:00"},
        ):
            response = await client.get("/api/v1/usage", params=bad, headers=root)
            assert response.status_code == 422, (bad, response.text)
        assert (await client.get("/api/v1/usage")).status_code == 401


async def test_usage_is_delivered_only_what_it_counts_and_still_reaches_the_stream_end(
    nats, js, db, database_url, tmp_path
):
    c = Conversation(user="ann")
    events = [c.created(), *answers(c), c.submitted("a last event usage does not read")]
    assert any(isinstance(e, GenerationChunk) for e in events)  # token chunks: not for usage
    async with running(nats, database_url, tmp_path):
        last = await publish(js, events)
        # The checkpoint passes the events the projection never saw, so lag and readiness are exact.
        assert await queries.wait_for_seq(db, last, 10, projection="usage")
        assert (await lag.measure(js, db, USAGE)).events == 0
        info = await js.consumer_info(CHAT_STREAM, USAGE.durable)
    assert info.delivered.consumer_seq == sum(isinstance(e, usage.READS) for e in events) < len(events)


def test_nobody_waits_for_usage_rows():
    """The usage projection (no read-your-writes) writes a batch per flush interval, not per answer."""
    worker = Worker(None, None, projection=USAGE, flush_s=0.25, settle_s=0.005)  # type: ignore[arg-type]
    assert worker.settle_s == 0.25
