"""nats-server's own CPU profile (services/bench/pprof.py): read from a real server's
profiling port while it stores messages."""

from __future__ import annotations

import asyncio
import time

from nats.js import api

from services import bus
from services.bench import pprof
from services.embedded import EmbeddedNats, free_port


def test_package_names_group_go_functions():
    assert pprof.package("github.com/nats-io/nats-server/v2/server.(*fileStore).storeRawMsg") == "server"
    assert pprof.package("runtime.mallocgc") == "runtime"
    assert pprof.package("internal/runtime/maps.(*Map).getWithKey") == "runtime"
    assert pprof.package("internal/runtime/syscall/linux.Syscall6") == "syscall"
    assert pprof.package("crypto/sha256.block") == "sha256"
    assert pprof.short("github.com/nats-io/nats-server/v2/server.(*client).readLoop") == "server.(*client).readLoop"


async def test_a_busy_servers_profile_shows_where_its_time_goes(tmp_path):
    server = EmbeddedNats(tmp_path / "nats", prof_port=free_port()).start()
    try:
        nc = await bus.connect(server.url, "test-pprof")
        js = nc.jetstream()
        await js.add_stream(api.StreamConfig(name="P", subjects=["p.>"]))

        async def store() -> None:
            end = time.monotonic() + 2.5
            while time.monotonic() < end:
                await asyncio.gather(*[await js.publish_async("p.x", b"x" * 200) for _ in range(100)])

        busy = asyncio.create_task(store())
        found = await pprof.record(server.prof_port, 2, tmp_path / "nats.pprof")
        await busy
        await nc.close()
    finally:
        server.stop()
    assert found["seconds"] > 0 and found["cpu_s"] > 0 and found["cores"] > 0
    # Each share is rounded to 0.1 %: their sum may pass 100 by half a step each.
    assert found["self"] and sum(pct for _, pct in found["packages"]) <= 100 + 0.05 * len(found["packages"]) + 1e-9
    # Storing messages is the file store's work: it shows among the functions with time under them
    # (looked for in every function, not the top 12: on a loaded machine the sample is small).
    profile = pprof.parse((tmp_path / "nats.pprof").read_bytes())
    every = pprof.top(profile, n=100_000)["inclusive"]
    assert any("fileStore" in name or "processJetStreamMsg" in name for name, _ in every), found
    assert pprof.top(profile)["cpu_s"] == found["cpu_s"]


async def test_a_closed_port_is_reported_not_raised(tmp_path):
    found = await pprof.record(free_port(), 1, tmp_path / "none.pprof")
    assert "no profile from nats-server" in found["error"]
