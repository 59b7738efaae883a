"""The runnable examples in docs/: they are what docs/events.md shows, and they work."""

from __future__ import annotations

import asyncio
import csv
import subprocess
import sys
from pathlib import Path

from events.schema import GenerationCompleted
from tests.test_audit_replay import conversation
from tests.test_projection_worker import publish

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "docs" / "examples" / "completed_to_csv.py"


def test_events_md_shows_the_example_as_it_is():
    assert EXAMPLE.read_text() in (ROOT / "docs" / "events.md").read_text()


async def run(nats, out: Path) -> str:
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(EXAMPLE), "--nats", nats.url, "--out", str(out), "--once"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=out.parent,  # nothing of Parley's on its path but the installed nats-py
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


async def test_the_csv_consumer_writes_every_completed_answer_once(nats, js, tmp_path):
    first, _, _ = conversation()
    await publish(js, first)
    out = tmp_path / "answers.csv"
    completed = [e for e in first if isinstance(e, GenerationCompleted)]
    assert await run(nats, out) == f"{len(completed)} answers written to {out}\n"
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert [r["message_id"] for r in rows] == [e.message_id for e in completed]
    assert [(r["session_id"], r["user_id"]) for r in rows] == [(e.session_id, e.user_id) for e in completed]
    assert [int(r["completion_tokens"]) for r in rows] == [e.usage.completion_tokens for e in completed]
    assert [r["characters"] for r in rows] == [str(len(e.content)) for e in completed]

    # Durable: the next run appends only what completed since.
    second, _, _ = conversation()
    await publish(js, second)
    more = [e for e in second if isinstance(e, GenerationCompleted)]
    assert await run(nats, out) == f"{len(more)} answers written to {out}\n"
    rows = list(csv.DictReader(out.read_text().splitlines()))
    assert [r["message_id"] for r in rows] == [e.message_id for e in completed + more]
