"""``parley up`` as a user runs it: embedded everything, a friendly start, fail fast with the fix,
clean stop however it is stopped, data kept for the next start."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import msgspec
import pytest
from nats.js.errors import NotFoundError

from events import codec
from events.schema import MessageSubmitted
from events.streams import AUDIT_CHECKPOINTS, AUDIT_STREAM, CHAT_STREAM
from services import bus, credentials, runtime
from services.audit import chain
from services.embedded import free_port


def _env(data_dir, extra_env=None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"NATS_URL", "DATABASE_URL", "PARLEY_LOCAL_BASE_URL"}}
    env |= {
        "PARLEY_DATA_DIR": str(data_dir),
        "PARLEY_NATS_PORT": str(free_port()),
        "PARLEY_PG_PORT": str(free_port()),
        "PARLEY_PORT": str(free_port()),
        "PARLEY_LOG_FORMAT": "json",
        **(extra_env or {}),
    }
    return env


def _start(data_dir, extra_env=None, args=()) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up", *args],
        env=_env(data_dir, extra_env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for_runtime(data_dir, proc, timeout=60.0) -> runtime.Runtime:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        if found := runtime.read(data_dir):
            return found
        time.sleep(0.1)
    raise AssertionError("parley up did not come up in time")


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` now (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        return (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _all_gone(pids: set[int], within: float = 20.0) -> set[int]:
    deadline = time.monotonic() + within
    while (left := {p for p in pids if _alive(p)}) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def _wait_up(proc, timeout=90.0) -> list[dict]:
    """Read JSON log lines until "Parley is up"; returns the events read."""
    events, deadline = [], time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError("parley up ended before it was up:\n" + "\n".join(map(str, events)))
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
        if events[-1].get("event", "").startswith("Parley is up"):
            return events
    raise AssertionError("parley up did not say it is up in time")


async def _store_and_count(rt: runtime.Runtime, store: bool) -> int:
    nc = await bus.connect(rt.nats_url, "test")
    try:
        js = nc.jetstream()
        if store:
            await bus.publish(
                js,
                codec.make(MessageSubmitted, session_id="s", user_id="u", message_id="m", content="survives a restart"),
            )
        return (await js.stream_info(CHAT_STREAM)).state.messages
    finally:
        await nc.close()


async def _sealed(rt: runtime.Runtime, within: float = 30.0) -> int:
    """How many events the sealer `parley up` started has sealed, once it has sealed any."""
    nc = await bus.connect(rt.nats_url, "test")
    try:
        js = nc.jetstream()
        for _ in range(int(within * 10)):
            try:
                msg = await js.get_last_msg(AUDIT_STREAM, AUDIT_CHECKPOINTS)
                signed = msgspec.json.decode(msg.data, type=chain.Signed)
                return msgspec.json.decode(base64.b64decode(signed.body), type=chain.Checkpoint).count
            except NotFoundError:
                await asyncio.sleep(0.1)
        raise AssertionError("no audit checkpoint")
    finally:
        await nc.close()


async def _tables(dsn: str) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return {r[0] for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")}
    finally:
        await conn.close()


def _refusal(url: str) -> str:
    """What NATS answers a client that logs in without credentials (its own protocol over a
    plain socket: a failed nats-py client leaves sockets for the garbage collector)."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=10) as conn, conn.makefile("rb") as replies:
        replies.readline()  # INFO {...}
        conn.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\nPING\r\n')
        return replies.readline().decode()


def keys_of(data_dir) -> credentials.Credentials:
    return credentials.load_or_create(data_dir)[0]


def _check_credentials(data_dir, rt: runtime.Runtime) -> None:
    """The embedded servers want the generated credentials; a by-hand command still joins."""
    for name in ("credentials.json", "runtime.json"):
        assert stat.S_IMODE((data_dir / name).stat().st_mode) == 0o600, name
    keys = keys_of(data_dir)
    assert keys.nats_password in rt.nats_url and keys.pg_password in rt.database_url
    anonymous_pg = rt.database_url.replace(f":{keys.pg_password}@", "@")
    with pytest.raises(asyncpg.PostgresError, match="password"):
        asyncio.run(_tables(anonymous_pg))
    anonymous_nats = rt.nats_url.replace(f"parley:{keys.nats_password}@", "")
    assert re.search(r"(?i)authoriz", _refusal(anonymous_nats))
    env = {k: v for k, v in os.environ.items() if k not in {"NATS_URL", "DATABASE_URL"}}
    joined = subprocess.run(
        [sys.executable, "-m", "services.cli", "migrate"],
        env=env | {"PARLEY_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert joined.returncode == 0 and "up to date" in joined.stdout, joined.stderr


def test_up_runs_everything_embedded_stops_on_any_number_of_signals_and_keeps_data(tmp_path):
    data_dir = tmp_path / "data"
    proc = _start(data_dir, {"PARLEY_AUDIT_CHECKPOINT_S": "0.5"})
    try:
        events = _wait_up(proc)
        rt = _wait_for_runtime(data_dir, proc)
        assert rt.local_base_url and rt.local_base_url.startswith("http://127.0.0.1:")
        assert asyncio.run(_store_and_count(rt, store=True)) == 1
        assert asyncio.run(_sealed(rt)) == 1  # `parley up` runs the audit sealer too
        assert asyncio.run(_tables(rt.database_url)) >= {"chat_sessions", "messages"}
        _check_credentials(data_dir, rt)
        # The start told what it did, with times: one event per part, then the URL.
        ready = [e["part"] for e in events if e.get("event") == "ready"]
        assert ready == ["NATS (JetStream)", "PostgreSQL", "local model", "streams and migrations", "services"]
        assert all(isinstance(e["seconds"], float) for e in events if e.get("event") == "ready")
        assert events[-1]["url"].startswith("http://127.0.0.1:") and "Ctrl-C" in events[-1]["event"]
        below = _descendants(proc.pid)
        assert len(below) >= 7  # NATS, PostgreSQL (+ its backends), model, four services
    finally:
        # Impatient user: Ctrl-C, Ctrl-C again, a SIGTERM from a script, more Ctrl-C.
        for sig in (signal.SIGINT, signal.SIGINT, signal.SIGTERM, signal.SIGINT):
            if proc.poll() is None:
                proc.send_signal(sig)
            time.sleep(0.1)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    everything = json.dumps(events) + out  # _wait_up read the start's lines
    assert "credentials.json" in everything and keys_of(data_dir).nats_password not in everything
    assert "stopping Parley" in out
    assert _all_gone(below) == set()
    assert runtime.read(data_dir) is None  # nothing claims to listen any more

    proc = _start(data_dir)
    try:
        rt = _wait_for_runtime(data_dir, proc)
        assert asyncio.run(_store_and_count(rt, store=False)) == 1
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=120)  # an orderly stop: slow on a loaded machine
    assert proc.returncode == 0, out


def test_kill_9_of_up_leaves_nothing_behind_and_the_next_start_uses_the_same_data(tmp_path):
    data_dir = tmp_path / "data"
    env = {"PARLEY_LOCAL_BASE_URL": "http://127.0.0.1:9/v1"}  # the model is not under test here
    proc = _start(data_dir, env)
    _wait_up(proc)
    rt = _wait_for_runtime(data_dir, proc)
    assert asyncio.run(_store_and_count(rt, store=True)) == 1
    below = _descendants(proc.pid)
    proc.kill()
    proc.wait(10)
    assert _all_gone(below) == set()
    proc.stdout.close()

    proc = _start(data_dir, env)
    try:
        _wait_up(proc)
        rt = _wait_for_runtime(data_dir, proc)
        assert asyncio.run(_store_and_count(rt, store=False)) == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out


@pytest.mark.parametrize(
    ("variable", "setting"),
    [
        ("PARLEY_PORT", "PARLEY_PORT"),
        ("PARLEY_NATS_PORT", "PARLEY_NATS_PORT or NATS_URL"),
        ("PARLEY_PG_PORT", "PARLEY_PG_PORT or DATABASE_URL"),
        ("PARLEY_MODEL_PORT", "PARLEY_MODEL_PORT or PARLEY_LOCAL_BASE_URL"),
    ],
)
def test_a_port_in_use_is_one_line_naming_the_setting_and_nothing_starts(tmp_path, variable, setting):
    data_dir = tmp_path / "data"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "services.cli", "up"],
            env=_env(data_dir, {variable: str(port)}),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"parley up: error: port {port} ({_what(variable)}) is already in use; set {setting}"
    ]
    assert not (data_dir / "nats").exists() and not (data_dir / "postgres").exists()  # nothing started


def _what(variable: str) -> str:
    return {
        "PARLEY_PORT": "edge (web UI and API)",
        "PARLEY_NATS_PORT": "embedded NATS",
        "PARLEY_PG_PORT": "embedded PostgreSQL",
        "PARLEY_MODEL_PORT": "embedded model server",
    }[variable]


def test_a_service_that_cannot_start_is_reported_once_and_everything_stops(tmp_path, nats, postgres):
    data_dir = tmp_path / "data"
    proc = _start(
        data_dir,
        {
            "NATS_URL": nats.url,
            "DATABASE_URL": postgres.admin_dsn,
            "PARLEY_LOCAL_BASE_URL": "http://127.0.0.1:9/v1",
            # Read by the edge alone, at its start: it fails there, every time, the same way.
            "PARLEY_JWT_PUBLIC_KEY": str(tmp_path / "no-such-key.pem"),
        },
    )
    seen: set[int] = set()
    deadline = time.monotonic() + 90
    while proc.poll() is None and time.monotonic() < deadline:
        seen |= _descendants(proc.pid)
        time.sleep(0.1)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 1, out
    reports = [json.loads(line) for line in out.splitlines() if "times in a row" in line]
    assert len(reports) == 1, out
    assert reports[0]["part"] == "edge" and reports[0]["level"] == "info"
    assert "PARLEY_JWT_PUBLIC_KEY" in reports[0]["error"] and reports[0]["times"] == 3
    assert "stopping Parley" in out
    assert _all_gone(seen) == set()
    assert runtime.read(data_dir) is None


def test_up_with_external_servers_starts_neither_and_open_opens_the_browser(tmp_path, nats, postgres):
    data_dir = tmp_path / "data"
    opened = tmp_path / "opened.txt"
    # webbrowser runs $BROWSER with %s replaced by the URL: a stand-in browser that notes it.
    browser = f"{sys.executable} -c 'import sys; open(sys.argv[1], \"w\").write(sys.argv[2])' {opened} %s"
    proc = _start(
        data_dir,
        {
            "NATS_URL": nats.url,
            "DATABASE_URL": postgres.admin_dsn,
            "PARLEY_LOCAL_BASE_URL": "http://127.0.0.1:9/v1",
            "BROWSER": browser,
        },
        args=["--open"],
    )
    try:
        events = _wait_up(proc)
        rt = _wait_for_runtime(data_dir, proc)
        assert rt.nats_url == nats.url and rt.database_url == postgres.admin_dsn
        deadline = time.monotonic() + 10
        while not opened.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert opened.read_text() == events[-1]["url"]
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, out
    for part in ("NATS (JetStream)", "PostgreSQL", "local model"):
        assert f'"part": "{part}"' not in out
    assert not (data_dir / "nats").exists() and not (data_dir / "postgres").exists()
