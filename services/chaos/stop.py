"""The ``parley up`` fault: a double SIGINT while an answer streams. Everything it started must be
gone afterwards, the next ``parley up`` must start on the same data, and the answer must end
(completed after the restart, or with a visible error)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from services import runtime
from services.chaos import checks
from services.embedded import free_port

API = "/api/v1"


def _up(data: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "services.cli", "up"], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def _ready(url: str, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"parley up exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("parley up did not become ready")


def double_sigint(workdir: Path, run_id: str):
    from services.chaos.main import Outcome

    out = Outcome("double SIGINT to parley up")
    workdir.mkdir(parents=True, exist_ok=True)
    llm_port, port = free_port(), free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PARLEY_", "NATS_URL", "DATABASE_URL"))}
    llm = subprocess.Popen(
        [sys.executable, "-m", "services.scripted_llm", "--port", str(llm_port), "--tokens-per-s", "20"],
        env=base | {checks.MARKER: run_id},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    env = base | {
        checks.MARKER: run_id,
        "PARLEY_DATA_DIR": str(workdir / "data"),
        "PARLEY_PORT": str(port),
        "PARLEY_NATS_PORT": str(free_port()),
        "PARLEY_PG_PORT": str(free_port()),
        "PARLEY_LOCAL_BASE_URL": f"http://127.0.0.1:{llm_port}/v1",
        "PARLEY_LOG_FORMAT": "json",
    }
    url = f"http://127.0.0.1:{port}"
    up = _up(workdir / "data", env, workdir / "up.log")
    try:
        _ready(url, up)
        with httpx.Client(base_url=url, timeout=30) as http:
            sid = http.post(f"{API}/chat/sessions", json={"title": "stop"}).json()["id"]
            sent = http.post(f"{API}/chat/sessions/{sid}/messages", json={"content": "long [[tokens:200]]"}).json()
        out.affected = 1
        time.sleep(1.5)  # streaming now
        t_fault = time.time()
        up.send_signal(signal.SIGINT)
        time.sleep(0.3)
        up.send_signal(signal.SIGINT)
        try:
            up.wait(90)
        except subprocess.TimeoutExpired:
            out.problems.append("parley up did not exit within 90 s of the second SIGINT")
            up.kill()
        left = [pid for pid in checks.marked_processes(run_id) if pid != llm.pid]
        if left:
            out.problems.append(f"left running after the stop: {sorted(left)}")
        if runtime.read(workdir / "data") is not None:
            out.problems.append("runtime.json still claims a running system")
        up = _up(workdir / "data", env, workdir / "up.log")
        _ready(url, up)
        status = _final_status(url, sid, sent["answer_message_id"])
        out.recovery_s = time.time() - t_fault
        if status not in {"complete", "failed", "cancelled"}:
            out.lost, out.problems = 1, [*out.problems, f"the answer in flight ended as {status!r}"]
    except Exception as exc:  # the run reports what broke rather than dying with it
        out.problems.append(f"{type(exc).__name__}: {exc}")
    finally:
        if up.poll() is None:
            up.send_signal(signal.SIGINT)
            try:
                up.wait(60)
            except subprocess.TimeoutExpired:
                up.kill()
        llm.kill()
        llm.wait(5)
    return out


def _final_status(url: str, sid: str, answer_id: str, timeout: float = 60.0) -> str | None:
    deadline, status = time.monotonic() + timeout, None
    with httpx.Client(base_url=url, timeout=10) as http:
        while time.monotonic() < deadline:
            response = http.get(f"{API}/chat/sessions/{sid}/messages", params={"page_size": 50})
            if response.status_code == 200:
                status = next((m["status"] for m in response.json() if m["id"] == answer_id), None)
                if status in {"complete", "failed", "cancelled"}:
                    return status
            time.sleep(0.3)
    return status
