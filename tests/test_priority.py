"""The projection worker's CPU priority: lowered for itself and its local PostgreSQL backend,
never raised, and only for a backend that is verifiably ours (real PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys

import asyncpg
import pytest

from projections import priority


def _child() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])


def test_lower_raises_the_nice_value_only():
    child = _child()
    try:
        assert priority.lower(child.pid, 0) is False  # 0: unchanged
        assert priority.lower(child.pid, 5) is True
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == 5
        assert priority.lower(child.pid, 3) is False  # never back up (that needs privileges)
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == 5
    finally:
        child.kill()
        child.wait()
    assert priority.lower(child.pid, 7) is False  # gone: logged, not raised


async def test_a_local_backend_is_lowered(postgres, database_url):
    conn = await asyncpg.connect(database_url)
    try:
        pid = conn.get_server_pid()
        before = os.getpriority(os.PRIO_PROCESS, pid)
        lowered = await priority.lower_backend(conn, before + 2)
        if postgres.embedded is None and not lowered:
            pytest.skip("DATABASE_URL names a server this test cannot see the processes of")
        assert lowered is True
        assert os.getpriority(os.PRIO_PROCESS, pid) == before + 2
        assert await priority.lower_backend(conn, 0) is False
        assert await conn.fetchval("SELECT 1") == 1  # the backend serves on
    finally:
        await conn.close()
