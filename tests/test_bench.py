"""Smoke run of the benchmark machinery: the direct baseline and the scripted provider as real
processes, driven by real load-generator processes; every token joined to its emit time."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from services.bench import latency, stats
from services.bench.fleet import Fleet, split
from services.bench.harness import Process
from services.bench.plan import Plan
from services.embedded import free_port


@pytest.fixture
def baseline(tmp_path):
    """(baseline URL, scripted LLM URL), both as their own processes."""
    llm_port, port = free_port(), free_port()
    llm_url = f"http://127.0.0.1:{llm_port}"
    env = dict(os.environ)
    args = [sys.executable, "-m", "services.scripted_llm", "--port", str(llm_port)]
    llm = Process("scripted-llm", args, env, tmp_path / "llm.log", f"{llm_url}/_health").start()
    url = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "services.bench.baseline", "--port", str(port), "--llm-url", llm_url]
    base = Process("baseline", args, env, tmp_path / "baseline.log", f"{url}/healthz").start()
    yield url, llm_url
    base.stop()
    llm.stop()


def test_split_spreads_clients_over_processes():
    assert split(5, 2) == [(0, 3), (3, 2)]
    assert split(2, 4) == [(0, 1), (1, 1)]  # no empty process


async def test_two_clients_for_two_seconds_against_the_baseline(baseline, tmp_path):
    url, llm_url = baseline
    plan = Plan(
        kind="chat", base_url=url, run="smoke", clients=2, tokens=12, rate=60, duration_s=2.0, stagger_s=0.2, drain_s=5
    )
    async with Fleet(plan, 2, tmp_path) as fleet:
        await fleet.connect()
        t0 = await fleet.go(0.2)
        result = await fleet.finish()
    assert result.connected == 2 and result.errors == [] and result.anomalies == []
    completed = [a for a in result.answers if a.outcome == "completed"]
    assert len(completed) >= 4  # 0.2 s per answer: several rounds per client
    assert all(sum(n for _, n, _, _ in a.tokens) == 12 for a in completed)
    async with httpx.AsyncClient() as http:
        records = (await http.get(f"{llm_url}/_record")).json()
    joined = latency.join(result.answers, latency.by_nonce(records), t0, t0 + 10)
    assert joined.unmatched == 0 and joined.unknown_tokens == 0
    assert joined.tokens == sum(sum(n for _, n, _, _ in a.tokens) for a in result.answers)
    summary = stats.summary(joined.latencies)
    # Emit times are taken just after the provider's write: a receipt can precede it by a hair.
    assert -5 < summary["p50"] < 1000
    assert len(joined.ttft) == len([a for a in result.answers if a.tokens])
    assert result.cpu_user_s > 0 and sum(result.frame_buckets.values()) == result.frames


async def test_idle_sockets_and_replays_against_the_baseline(baseline, tmp_path):
    url, _ = baseline
    async with Fleet(Plan(kind="idle", base_url=url, run="idle", clients=3), 1, tmp_path) as fleet:
        await fleet.connect()
        result = await fleet.finish(idle_close=True)
    assert result.connected == 3 and len(result.sessions) == 3 and result.errors == []
    plan = Plan(kind="replay", base_url=url, run="replay", clients=3, sessions=result.sessions)
    async with Fleet(plan, 2, tmp_path) as fleet:
        await fleet.connect()
        await fleet.go(0.1)
        replayed = await fleet.finish()
    assert sorted(r.session_id for r in replayed.replays) == sorted(result.sessions)
    assert all(r.live_at >= r.started_at for r in replayed.replays)


async def test_the_baseline_refuses_bad_input_clearly_and_keeps_the_socket(baseline):
    url, _ = baseline
    ws_url = url.replace("http://", "ws://") + "/api/v1/chat/websocket/"
    async with connect(ws_url + "no-such-session") as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd.code == 4404
    async with httpx.AsyncClient(base_url=url) as http:
        session = (await http.post("/api/v1/chat/sessions", json={})).json()["id"]
    async with connect(ws_url + session) as ws:
        assert json.loads(await ws.recv())["data"]["status"] == "connected"
        assert json.loads(await ws.recv())["data"]["status"] == "live"
        await ws.send("{not json")
        assert json.loads(await ws.recv())["data"]["code"] == "bad_json"
        await ws.send(json.dumps({"type": "dance"}))
        assert json.loads(await ws.recv())["data"]["code"] == "unknown_type"
        await ws.send(json.dumps({"type": "ping"}))
        assert json.loads(await ws.recv())["data"]["status"] == "pong"


def test_a_load_generator_without_a_plan_says_how_to_run_it():
    run = subprocess.run([sys.executable, "-m", "services.bench.loadgen"], capture_output=True, text=True, timeout=30)
    assert run.returncode != 0
    assert "usage: python -m services.bench.loadgen PLAN.json" in run.stderr
