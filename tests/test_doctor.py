"""``parley doctor`` on a machine that can run Parley (exit 0) and with blocking problems (exit 1, named)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

from services import doctor
from services.embedded import free_port
from services.settings import load


def _doctor(tmp_path, **env: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in {"NATS_URL", "DATABASE_URL", "PARLEY_LOCAL_BASE_URL"}}
    base |= {
        "PARLEY_DATA_DIR": str(tmp_path / "data"),
        "PARLEY_PORT": str(free_port()),
        "PARLEY_NATS_PORT": str(free_port()),
        "PARLEY_PG_PORT": str(free_port()),
    }
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "doctor"], env=base | env, capture_output=True, text=True, timeout=120
    )


def test_a_machine_that_can_run_parley_passes(tmp_path, nats, postgres):
    result = _doctor(tmp_path, NATS_URL=nats.url, DATABASE_URL=postgres.admin_dsn)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    for what in ("✓ Python", "✓ model file", "✓ port", "✓ data folder", "✓ NATS_URL", "✓ DATABASE_URL"):
        assert any(line.startswith(what) for line in lines), what
    assert not any(line.startswith("✗") for line in lines)
    assert lines[-1] == "nothing blocks `parley up`."


def test_blocking_problems_are_named_with_their_fix_and_exit_1(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _doctor(
            tmp_path,
            PARLEY_PORT=str(port),
            NATS_URL=f"nats://127.0.0.1:{free_port()}",  # nothing listens there
            PARLEY_MIN_FREE_MB=str(2**40),
        )
    assert result.returncode == 1
    blocked = [line for line in result.stdout.splitlines() if line.startswith("✗")]
    assert any(f"port {port}" in line and line.endswith("set PARLEY_PORT") for line in blocked), blocked
    assert any(line.startswith("✗ NATS_URL") and "fix NATS_URL" in line for line in blocked), blocked
    assert any(line.startswith("✗ data folder") and "PARLEY_MIN_FREE_MB" in line for line in blocked), blocked
    assert result.stdout.splitlines()[-1].startswith("3 problem(s) block")


async def test_a_provider_that_does_not_answer_is_reported_not_blocking(tmp_path):
    settings = load({"PARLEY_DATA_DIR": str(tmp_path), "PARLEY_LOCAL_BASE_URL": f"http://127.0.0.1:{free_port()}/v1"})
    (finding,) = await doctor.providers(settings)
    assert finding.status == "warn" and finding.what == "provider local"
