"""Where the time goes: py-spy samples running processes (no restart, no code change) and the
collapsed stacks are reduced to the hottest frames. ``top`` is pure; ``record`` runs py-spy."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections import Counter
from pathlib import Path

_LINE = re.compile(r":\d+\)$")
# Our own code, for "which of our functions is the time spent under".
OWN = ("services/", "events/", "projections/")
# Entry points every sample passes through: nothing to learn from them.
_ENTRY = (
    "<module> (",
    "main (",
    "_run_module.<locals>.run (",
    "run (services/cli.py",
    "run_service (services/commands/",
    "edge (services/commands/",
    "generation (services/commands/",
    "projections_group (services/commands/",
)
# With uvloop the loop's own C code (socket reads/writes, polling) shows as this frame.
UVLOOP = "Runner.run (asyncio/runners.py)"


def _frame(raw: str) -> str:
    """``func (path/file.py:123)`` -> ``func (path/file.py)``: one entry per function."""
    return _LINE.sub(")", raw.strip())


def _package(frame: str) -> str:
    if frame == UVLOOP:
        return "uvloop"
    inside = frame[frame.rfind("(") + 1 : -1]
    parts = inside.split("/")
    if parts[0] in {"services", "projections", "events"} and len(parts) > 2:
        return f"{parts[0]}.{parts[1]}"
    return parts[0].removesuffix(".py") if len(parts) > 1 else inside.removesuffix(".py")


def top(collapsed: str, n: int = 12) -> dict[str, object]:
    """Hottest frames of py-spy's raw (collapsed) output: self time per function, self time per
    package, and the own functions with the most time under them (inclusive), as % of samples."""
    self_time: Counter[str] = Counter()
    packages: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        samples = int(count)
        frames = [_frame(f) for f in stack.split(";") if f]
        if not frames:
            continue
        total += samples
        self_time[frames[-1]] += samples
        packages[_package(frames[-1])] += samples
        for frame in set(frames):
            if any(f"({own}" in frame for own in OWN) and not frame.startswith(_ENTRY):
                inclusive[frame] += samples

    def pct(counter: Counter[str]) -> list[list[object]]:
        named = {UVLOOP: "uvloop (C: I/O and scheduling)"}
        return [[named.get(k, k), round(100 * c / total, 1)] for k, c in counter.most_common(n)] if total else []

    return {"samples": total, "self": pct(self_time), "packages": pct(packages), "own_inclusive": pct(inclusive)}


def available() -> str | None:
    """The py-spy binary, if installed (beside this Python or on PATH)."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


async def record(pids: dict[str, int], seconds: float, out_dir: Path, rate: int = 97) -> dict[str, object]:
    """Sample every process in ``pids`` at once for ``seconds``; their hottest frames by name."""
    binary = available()
    if binary is None:
        return {"error": "py-spy is not installed (pip install py-spy): no profile"}
    await asyncio.to_thread(out_dir.mkdir, parents=True, exist_ok=True)

    async def one(name: str, pid: int) -> tuple[str, object]:
        output = out_dir / f"{name}.collapsed.txt"
        proc = await asyncio.create_subprocess_exec(
            binary,
            "record",
            "--pid",
            str(pid),
            "--duration",
            str(max(1, round(seconds))),
            "--rate",
            str(rate),
            "--format",
            "raw",
            "--nonblocking",  # never pause the process under test
            "--output",
            str(output),
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await proc.communicate()
        if proc.returncode != 0 or not output.exists():
            return name, {"error": f"py-spy failed ({proc.returncode}): {err.decode(errors='replace')[-300:]}"}
        found = top(output.read_text())
        found["active_share"] = round(found["samples"] / (rate * seconds), 3)  # busy fraction of one core
        return name, found

    return dict(await asyncio.gather(*(one(name, pid) for name, pid in pids.items())))
