"""``parley doctor``."""

from __future__ import annotations

import typer

from services.commands import common

MARK = {"ok": "✓", "warn": "!", "block": "✗"}


def doctor() -> None:
    """Check this machine for what `./dev up` and `./dev test` need; exit 1 when something blocks.

    Python, Node, the built web UI, the model file, Chromium for the browser tests, the ports
    `parley up` binds, free disk space, and when given: NATS_URL, DATABASE_URL and the providers.
    """
    from services import doctor as checks

    settings = common.boot("doctor")
    findings = checks.examine(settings)
    for f in findings:
        print(f"{MARK[f.status]} {f.what}: {f.detail}")
    blocking = [f for f in findings if f.status == "block"]
    if blocking:
        print(f"{len(blocking)} problem(s) block `parley up`: fix the lines marked ✗.", flush=True)
        raise typer.Exit(common.EXIT_FAILED)
    print("nothing blocks `parley up`.")
