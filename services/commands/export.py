"""``parley export``: options here, the work in ``services/audit/``."""

from __future__ import annotations

import asyncio
from enum import StrEnum
from typing import Annotated

import typer

from services.commands import common


class Format(StrEnum):
    json = "json"
    markdown = "markdown"


def export(
    session_id: Annotated[str, typer.Argument(help="The session to export.")],
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.json,
    events: Annotated[bool, typer.Option("--events", help="JSON only: add the raw stored events.")] = False,
) -> None:
    """Export a conversation from the event log (the document `POST /api/v1/chat/sessions/import` takes)."""
    from services.audit import replay

    settings = common.boot("export")
    print(asyncio.run(replay.export(settings, session_id, fmt.value, events)))
