"""Reading py-spy's collapsed stacks (services/bench/profile.py), and py-spy on a real process."""

from __future__ import annotations

import asyncio
import sys

import pytest

from services.bench import profile

COLLAPSED = """\
<module> (services/cli.py:120);run (asyncio/runners.py:118);_on_event (services/edge/bridge.py:90);encode (msgspec/json.py:1) 6
<module> (services/cli.py:120);run (asyncio/runners.py:118);_on_event (services/edge/bridge.py:91) 2
<module> (services/cli.py:120);run (asyncio/runners.py:118);_run_once (asyncio/base_events.py:1900) 2
garbage line without a count
"""


def test_top_counts_self_time_packages_and_own_inclusive_time():
    found = profile.top(COLLAPSED)
    assert found["samples"] == 10
    assert found["self"][0] == ["encode (msgspec/json.py)", 60.0]
    assert ["_on_event (services/edge/bridge.py)", 20.0] in found["self"]  # lines 90/91: one function
    assert found["packages"][0] == ["msgspec", 60.0]
    assert ["services.edge", 20.0] in found["packages"]
    inclusive = dict((name, pct) for name, pct in found["own_inclusive"])
    assert inclusive == {"_on_event (services/edge/bridge.py)": 80.0}  # not entry points, not libraries


def test_uvloops_own_time_is_named():
    found = profile.top("<module> (x.py:1);Runner.run (asyncio/runners.py:118) 3\n")
    assert found["self"] == [["uvloop (C: I/O and scheduling)", 100.0]]
    assert found["packages"] == [["uvloop", 100.0]]


def test_top_of_nothing_is_empty():
    assert profile.top("") == {"samples": 0, "self": [], "packages": [], "own_inclusive": []}


@pytest.mark.skipif(profile.available() is None, reason="py-spy is not installed")
async def test_record_samples_a_running_process(tmp_path):
    code = "import json, time\nend = time.time() + 5\nwhile time.time() < end:\n    json.dumps(list(range(200)))\n"
    proc = await asyncio.create_subprocess_exec(sys.executable, "-c", code)
    try:
        found = await profile.record({"spinner": proc.pid}, 1, tmp_path)
    finally:
        proc.kill()
        await proc.wait()
    spinner = found["spinner"]
    if "error" in spinner and "Permission" in spinner["error"]:
        pytest.skip(f"this machine does not allow ptrace: {spinner['error']}")
    assert spinner["samples"] > 0
    assert any("json" in name for name, _ in spinner["packages"])
    assert (tmp_path / "spinner.collapsed.txt").exists()
