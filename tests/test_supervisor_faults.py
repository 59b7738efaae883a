"""``parley up`` heals itself (issue 18): kill -9 of the embedded nats-server, PostgreSQL or model
server while answers stream. Each fault shows: ready again within 10 s (target 5; the measured
time is printed), the answers in flight ended visibly, connected clients saw no gap and no
duplicate, and a message sent afterwards got its answer."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import websockets

from services import runtime
from services.bench.harness import Process
from services.chaos.load import VISIBLE, Load
from services.embedded import free_port
from tests.support.sockets import ws_url
from tests.test_supervisor import _descendants, _wait_up

READY_LIMIT_S = 10.0


def _up(data_dir: Path, **env: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    full = {k: v for k, v in os.environ.items() if k not in {"NATS_URL", "DATABASE_URL", "PARLEY_LOCAL_BASE_URL"}}
    full |= {
        "PARLEY_DATA_DIR": str(data_dir),
        "PARLEY_NATS_PORT": str(free_port()),
        "PARLEY_PG_PORT": str(free_port()),
        "PARLEY_PORT": str(port),
        "PARLEY_LOG_FORMAT": "json",
        "PARLEY_AUDIT_CHECKPOINT_S": "60",
        **env,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up"],
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    _wait_up(proc)
    log = data_dir / "up.log"  # keep draining: a full pipe would stall `parley up`
    with log.open("w") as out:
        proc.drain = subprocess.Popen(["cat"], stdin=proc.stdout, stdout=out)
    proc.stdout.close()  # `cat` holds it now
    edge = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60  # as a client would: wait for /readyz
    while httpx.get(f"{edge}/readyz", timeout=5).status_code != 200:
        assert time.monotonic() < deadline, "not ready 60 s after `Parley is up`"
        time.sleep(0.1)
    return proc, edge


def _stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    proc.wait(120)
    proc.drain.wait(30)


def _server_pid(up: subprocess.Popen, part: str) -> int:
    """The pid of one embedded server, a direct child of ``parley up``."""
    for pid in _descendants(up.pid):
        stat = Path(f"/proc/{pid}/stat").read_text()
        if int(stat.rsplit(")", 1)[1].split()[1]) != up.pid:
            continue
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        if {"nats": "nats-server", "postgres": "postgres -D", "model": "services.generation.llama"}[part] in cmdline:
            return pid
    raise AssertionError(f"no {part} under parley up")


async def _ready_again(edge: str, since: float, limit: float = 60.0, settle: float = 1.0) -> tuple[float, dict | None]:
    """Seconds from ``since`` until /readyz answers 200 after the fault, and the first 503 body seen."""
    down = None
    async with httpx.AsyncClient(timeout=2.0) as http:
        while time.monotonic() - since < limit:
            try:
                r = await http.get(f"{edge}/readyz")
                if r.status_code == 200 and (down is not None or time.monotonic() - since > 1.0):
                    return time.monotonic() - since, down
                if r.status_code == 503 and down is None:
                    down = r.json()
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"not ready {limit} s after the fault; last seen down: {down}")


@pytest.fixture(scope="module")
def scripted_system(tmp_path_factory):
    """`parley up` (embedded NATS and PostgreSQL) with the scripted LLM as its model."""
    work = tmp_path_factory.mktemp("heal")
    port = free_port()
    llm = Process(
        "scripted-llm",
        [sys.executable, "-m", "services.scripted_llm", "--port", str(port)],
        dict(os.environ),
        work / "scripted-llm.log",
        f"http://127.0.0.1:{port}/_health",
    ).start()
    up, edge = _up(work / "data", PARLEY_LOCAL_BASE_URL=f"http://127.0.0.1:{port}/v1")
    try:
        yield up, edge
    finally:
        _stop(up)
        llm.stop()


async def _under_load(up: subprocess.Popen, edge: str, part: str) -> dict:
    load = Load([edge], clients=3, tokens=60, rate=30.0, answer_timeout_s=60.0)
    await load.start()
    try:
        await asyncio.sleep(1.0)
        inflight = [a for a in load.answers() if a.outcome == "unfinished"]
        assert inflight, "no answer was streaming at the fault"
        t0, t0_wall = time.monotonic(), time.time()
        os.kill(_server_pid(up, part), signal.SIGKILL)
        ready_s, down = await _ready_again(edge, t0)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            later = [a for a in load.answers() if a.sent_at > t0_wall + ready_s and a.outcome == "completed"]
            if later and all(a.outcome != "unfinished" for a in inflight):
                break
            await asyncio.sleep(0.1)
        await load.pause(90)
        answers = load.answers()
        return {
            "part": part,
            "ready_s": round(ready_s, 2),
            "answered_again_s": round(min(a.done_at for a in later) - t0_wall, 2) if later else None,
            "down": down,
            "inflight": [a.outcome for a in inflight],
            "lost": [a.nonce for a in answers if a.outcome not in VISIBLE],
            "anomalies": load.anomalies(),
        }
    finally:
        await load.stop()


@pytest.mark.parametrize("part", ["nats", "postgres"])
async def test_kill_9_of_an_embedded_server_while_answers_stream_heals(scripted_system, part):
    up, edge = scripted_system
    result = await _under_load(up, edge, part)
    print(f"\nrecovery after kill -9 of embedded {part}: " + json.dumps(result))
    assert result["ready_s"] < READY_LIMIT_S, result
    if result["down"] is not None:  # /readyz said which part was down (the outage may be too short to see)
        assert result["down"]["checks"][{"nats": "nats", "postgres": "postgres"}[part]] is False, result
    assert all(outcome in VISIBLE for outcome in result["inflight"]), result  # none left streaming
    assert result["answered_again_s"] is not None, result  # a new message got its answer
    assert result["lost"] == [], result  # every answer ended visibly
    assert up.poll() is None
    assert result["anomalies"] == [], result  # no gap, no duplicate


@pytest.mark.slow
async def test_kill_9_of_the_embedded_model_server_while_an_answer_streams_heals(tmp_path):
    up, edge = _up(tmp_path / "data")
    try:
        async with httpx.AsyncClient(base_url=edge, timeout=30) as http:
            sid = (await http.post("/api/v1/chat/sessions", json={"title": "model fault"})).json()["id"]
            # A connected client: every token frame it gets, per attempt, must be in order, once.
            ws = await websockets.connect(ws_url(edge, f"/api/v1/chat/websocket/{sid}"))
            frames = asyncio.create_task(_answer_frames(ws))
            sent = await http.post(
                f"/api/v1/chat/sessions/{sid}/messages",
                json={"content": "Write a long story about a lighthouse keeper, in many paragraphs."},
            )
            assert sent.status_code < 300, sent.text
            answer = await _wait_answer(http, sid, 0, lambda m: m["status"] == "streaming" and m["content"])
            t0 = time.monotonic()
            os.kill(_server_pid(up, "model"), signal.SIGKILL)
            ended = await _wait_answer(http, sid, 0, lambda m: m["status"] not in {"pending", "streaming"})
            assert ended["id"] == answer["id"] and ended["status"] in {"complete", "failed"}, ended
            if ended["status"] == "failed":
                assert ended["content"].startswith(answer["content"][:10])  # the partial text is kept
            seen = await asyncio.wait_for(frames, 30)
            await ws.close()
            assert seen, "the connected client got no token"
            for attempt, indexes in seen.items():  # no gap, no duplicate, within each attempt
                assert indexes == list(range(len(indexes))), (attempt, indexes)
            model_back_s = await _model_back(tmp_path / "data", t0)
            short = {"title": "after the fault", "settings": {"max_tokens": 24}}  # quick even on a loaded machine
            sid2 = (await http.post("/api/v1/chat/sessions", json=short)).json()["id"]
            await http.post(f"/api/v1/chat/sessions/{sid2}/messages", json={"content": "Say hello."})
            again = await _wait_answer(http, sid2, 0, lambda m: m["status"] == "complete", within=120)
            answered_s = time.monotonic() - t0
        print(
            f"\nrecovery after kill -9 of the embedded model: serving again after {model_back_s:.1f} s, "
            f"a new message answered after {answered_s:.1f} s; the answer in flight: {ended['status']}"
        )
        assert model_back_s < READY_LIMIT_S
        assert again["content"]
        assert answered_s < 120  # the model itself is slow on a loaded machine; the restart is logged
        assert up.poll() is None
    finally:
        _stop(up)


async def _answer_frames(ws) -> dict[int, list[int]]:
    """Token frame indexes of the session's first answer, per attempt, until its terminal frame."""
    seen: dict[int, list[int]] = {}
    answer_id = None
    async with asyncio.timeout(120):
        while True:
            frame = json.loads(await ws.recv())
            data = frame.get("data") or {}
            if frame.get("type") != "messageUpdate" or (answer_id and frame.get("message_id") != answer_id):
                continue
            answer_id = frame["message_id"]
            if data.get("event") == "token":
                seen.setdefault(data["attempt"], []).append(data["index"])
            elif data.get("event") in ("completed", "failed", "cancelled"):
                return seen


async def _model_back(data_dir: Path, since: float, limit: float = 60.0) -> float:
    """Seconds from ``since`` until the model server (same address) lists its model again."""
    base_url = runtime.read(data_dir).local_base_url
    async with httpx.AsyncClient(timeout=2.0) as http:
        while time.monotonic() - since < limit:
            try:
                if (await http.get(f"{base_url}/models")).status_code == 200:
                    return time.monotonic() - since
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.05)
    raise AssertionError(f"the model server did not come back within {limit} s")


async def _wait_answer(http: httpx.AsyncClient, sid: str, nth: int, predicate, within: float = 60.0) -> dict:
    """The ``nth`` assistant message of the session once ``predicate`` holds for it."""
    deadline, answers = time.monotonic() + within, []
    while time.monotonic() < deadline:
        messages = (await http.get(f"/api/v1/chat/sessions/{sid}/messages")).json()
        items = messages["messages"] if isinstance(messages, dict) else messages
        answers = [m for m in items if m["role"] == "assistant"]
        if len(answers) > nth and predicate(answers[nth]):
            return answers[nth]
        await asyncio.sleep(0.1)
    seen = [(m["status"], m["content"][:80], m.get("error_message")) for m in answers]
    raise AssertionError(f"answer {nth} of {sid} did not get there in {within} s: {seen}")


async def test_a_send_while_nats_is_down_is_refused_whole_and_works_after(nats, js, edge_factory):
    """Issue 18: sends during the outage get a clear 503, and nothing of them is stored later."""
    edge = edge_factory()
    async with httpx.AsyncClient(base_url=edge, timeout=30) as http:
        sid = (await http.post("/api/v1/chat/sessions", json={"title": "outage"})).json()["id"]
        before = (await js.stream_info("PARLEY_CHAT")).state.messages
        nats.kill()
        try:
            refused = []
            for i in range(3):  # the edge notices the disconnect within a moment
                r = await http.post(f"/api/v1/chat/sessions/{sid}/messages", json={"content": f"during {i}"})
                refused.append((r.status_code, r.json().get("code") or r.json().get("error", {}).get("code")))
                await asyncio.sleep(0.3)
        finally:
            nats.start()
        assert all(status == 503 for status, _ in refused), refused
        deadline = time.monotonic() + 20
        while (await http.get("/readyz")).status_code != 200:
            assert time.monotonic() < deadline, "the edge did not reconnect"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1.0)  # anything nats-py had buffered would be flushed by now
        assert (await js.stream_info("PARLEY_CHAT")).state.messages == before  # nothing half-stored
        after = await http.post(f"/api/v1/chat/sessions/{sid}/messages", json={"content": "after"})
        assert after.status_code < 300, after.text
