"""``parley up``."""

from __future__ import annotations

from typing import Annotated

import typer

from services.commands import common


def up(
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the web UI in the browser once Parley is up.")
    ] = False,
) -> None:
    """Run the whole system on this machine: NATS, PostgreSQL, the local model and every service.

    Starts what is not configured from outside: an embedded NATS with JetStream (unless NATS_URL),
    an embedded PostgreSQL (unless DATABASE_URL) and a llama.cpp server with the shipped model
    (unless PARLEY_LOCAL_BASE_URL); then applies migrations and runs the projections, generation
    and edge services, restarting any part that exits (and stopping, exit 1, when one keeps failing the same way). Ctrl-C stops everything; the data stays in
    PARLEY_DATA_DIR for the next start.

    Settings that matter most: PARLEY_PORT (web UI and API, 8000), PARLEY_NATS_PORT (4222),
    PARLEY_PG_PORT (5433), PARLEY_DATA_DIR (./data), NATS_URL, DATABASE_URL, PARLEY_LOCAL_BASE_URL.
    `parley settings` lists them all; `parley doctor` checks this machine.
    """
    from services.supervisor import up as run_up

    settings = common.boot("up")
    code = run_up(settings, open_browser=open_browser)
    if code:
        raise typer.Exit(code)
