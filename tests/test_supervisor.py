"""``parley up`` as a user runs it: embedded everything, clean stop, data kept for the next start."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import stat
import subprocess
import sys
import time

import asyncpg
import msgspec
import nats
import pytest
from nats.js.errors import NotFoundError

from events import codec
from events.schema import MessageSubmitted
from events.streams import AUDIT_CHECKPOINTS, AUDIT_STREAM, CHAT_STREAM
from services import bus, credentials, runtime
from services.audit import chain
from services.embedded import free_port


def _start(data_dir, extra_env=None) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if k not in {"NATS_URL", "DATABASE_URL", "PARLEY_LOCAL_BASE_URL"}}
    env |= {
        "PARLEY_DATA_DIR": str(data_dir),
        "PARLEY_NATS_PORT": str(free_port()),
        "PARLEY_PG_PORT": str(free_port()),
        "PARLEY_PORT": str(free_port()),
        "PARLEY_LOG_FORMAT": "json",
        **(extra_env or {}),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "services.cli", "up"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _wait_for_runtime(data_dir, proc, timeout=30.0) -> runtime.Runtime:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stdout.read()
        if found := runtime.read(data_dir):
            return found
        time.sleep(0.1)
    raise AssertionError("parley up did not come up within 30 s")


def _stop(proc) -> str:
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    return out


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
    with pytest.raises(Exception, match=r"(?i)authoriz"):
        asyncio.run(nats.connect(anonymous_nats, allow_reconnect=False, max_reconnect_attempts=0))
    env = {k: v for k, v in os.environ.items() if k not in {"NATS_URL", "DATABASE_URL"}}
    joined = subprocess.run(
        [sys.executable, "-m", "services.cli", "migrate"],
        env=env | {"PARLEY_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert joined.returncode == 0 and "up to date" in joined.stdout, joined.stderr


def test_up_runs_everything_embedded_and_keeps_data_for_the_next_start(tmp_path):
    data_dir = tmp_path / "data"
    started = time.monotonic()
    proc = _start(data_dir, {"PARLEY_AUDIT_CHECKPOINT_S": "0.5"})
    try:
        rt = _wait_for_runtime(data_dir, proc)
        assert time.monotonic() - started < 30
        assert rt.local_base_url and rt.local_base_url.startswith("http://127.0.0.1:")
        assert asyncio.run(_store_and_count(rt, store=True)) == 1
        assert asyncio.run(_sealed(rt)) == 1  # `parley up` runs the audit sealer too
        assert asyncio.run(_tables(rt.database_url)) >= {"chat_sessions", "messages"}
        _check_credentials(data_dir, rt)
    finally:
        out = _stop(proc)
    assert proc.returncode == 0, out
    assert "credentials.json" in out and keys_of(data_dir).nats_password not in out
    assert "stopping Parley" in out
    assert runtime.read(data_dir) is None  # nothing claims to listen any more

    proc = _start(data_dir)
    try:
        rt = _wait_for_runtime(data_dir, proc)
        assert asyncio.run(_store_and_count(rt, store=False)) == 1
    finally:
        _stop(proc)


def test_up_with_external_servers_starts_neither(tmp_path, nats, postgres):
    data_dir = tmp_path / "data"
    proc = _start(
        data_dir,
        {"NATS_URL": nats.url, "DATABASE_URL": postgres.admin_dsn, "PARLEY_LOCAL_BASE_URL": "http://127.0.0.1:9/v1"},
    )
    try:
        rt = _wait_for_runtime(data_dir, proc)
        assert rt.nats_url == nats.url and rt.database_url == postgres.admin_dsn
    finally:
        out = _stop(proc)
    for part in ("embedded NATS", "embedded PostgreSQL", "embedded local model"):
        assert part not in out
    assert not (data_dir / "nats").exists() and not (data_dir / "postgres").exists()
