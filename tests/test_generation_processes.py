"""`parley generation` as real processes: a worker killed mid-answer, a worker stopped with
SIGTERM, and a worker started without NATS."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from events.schema import GenerationCompleted, GenerationRestarted, GenerationStarted
from services.scripted_llm import ScriptedLLM
from tests.support.generation import chunks, new_session, send, wait_ended, wait_for


class WorkerProcess:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.log = log
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "services.cli", "generation"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )

    @property
    def pid(self) -> int:
        return self.proc.pid

    async def ready(self, within_s: float = 30.0) -> WorkerProcess:
        async with asyncio.timeout(within_s):
            while b"generation worker ready" not in self.log.read_bytes():
                if self.proc.poll() is not None:
                    raise RuntimeError(f"worker exited {self.proc.returncode}:\n{self.log.read_text()[-3000:]}")
                await asyncio.sleep(0.05)
        return self

    def stop(self, sig: int = signal.SIGTERM, wait_s: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(wait_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode


@pytest.fixture
async def llm():
    async with ScriptedLLM(rate=0) as server:
        yield server


@pytest.fixture
def spawn(nats, llm, tmp_path):
    started: list[WorkerProcess] = []

    def start(**extra: str) -> WorkerProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PARLEY_", "NATS_URL", "DATABASE_URL"))}
        env |= {
            "NATS_URL": nats.url,
            "PARLEY_LOCAL_BASE_URL": llm.base_url,
            "PARLEY_DATA_DIR": str(tmp_path / "data"),
            "PARLEY_ACK_WAIT_S": "2",
            "PARLEY_CHUNK_FLUSH_MS": "5",
            "PARLEY_LOG_FORMAT": "json",
            **extra,
        }
        worker = WorkerProcess(env, tmp_path / f"generation-{len(started)}.log")
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop(signal.SIGKILL)


def worker_of(started: GenerationStarted) -> int:
    return int(started.worker_id.rsplit("-", 1)[1])


async def test_killing_a_worker_mid_answer_gets_the_answer_completed_by_another(js, spawn, llm):
    a, b = spawn(), spawn()
    await a.ready()
    await b.ready()
    sid = await new_session(js)
    _, aid = await send(js, sid, "[[tokens:40]] [[rate:20]]")
    events = await wait_for(
        js, sid, lambda evs: len(chunks([e for e in evs if getattr(e, "message_id", "") == aid])) >= 3
    )
    (first,) = [e for e in events if isinstance(e, GenerationStarted)]
    victim, survivor = (a, b) if worker_of(first) == a.pid else (b, a)
    killed_at = time.time()
    victim.stop(signal.SIGKILL)
    events = await wait_ended(js, sid, aid, within_s=60)
    taken_over = time.time() - killed_at
    print(f"takeover completed {taken_over:.2f}s after the kill")
    restarted = [e for e in events if isinstance(e, GenerationRestarted)]
    assert [r.attempt for r in restarted] == [2]
    started = [e for e in events if isinstance(e, GenerationStarted)]
    assert [worker_of(s) for s in started] == [victim.pid, survivor.pid]
    done = events[-1]
    assert isinstance(done, GenerationCompleted) and done.attempt == 2
    assert done.content == "".join(c.delta for c in chunks(events, attempt=2))
    assert done.content == "".join(f" tok{i}" for i in range(40)).lstrip()
    # the dead worker's request was cut off by the kernel; the takeover streamed a fresh one
    assert llm.records[0].disconnected_at is not None and llm.records[1].outcome == "completed"
    # ack wait 2 s, plus the survivor answering 40 tokens at 20/s
    assert taken_over < 2 + 2 + 6, f"takeover took {taken_over:.1f}s"


async def test_sigterm_lets_the_answer_in_flight_finish(js, spawn, llm):
    worker = spawn()
    await worker.ready()
    sid = await new_session(js)
    _, aid = await send(js, sid, "[[tokens:20]] [[rate:20]]")
    await wait_for(js, sid, lambda evs: any(isinstance(e, GenerationStarted) for e in evs))
    worker.proc.send_signal(signal.SIGTERM)
    events = await wait_ended(js, sid, aid, within_s=15)
    assert isinstance(events[-1], GenerationCompleted) and events[-1].attempt == 1
    assert await asyncio.to_thread(worker.proc.wait, 15) == 0
    assert b"generation worker stopped" in worker.log.read_bytes()


def test_a_worker_without_nats_says_what_to_set(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PARLEY_", "NATS_URL", "DATABASE_URL"))}
    env["PARLEY_DATA_DIR"] = str(tmp_path / "nothing-here")
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "generation"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "NATS_URL: not set" in result.stderr
