"""``parley replay``: options here, the work in ``services/audit/replay.py``."""

from __future__ import annotations

import argparse
from datetime import datetime
from enum import Enum
from typing import Annotated

import typer

from services.audit.render import FORMATS
from services.commands import common

Format = Enum("Format", {name: name for name in FORMATS}, type=str)


def _time(text: str | None) -> datetime | None:
    from services.audit.replay import parse_time

    if text is None:
        return None
    try:
        return parse_time(text)
    except argparse.ArgumentTypeError as exc:
        raise typer.BadParameter(str(exc)) from None


def replay(
    session_id: Annotated[str, typer.Argument(help="The session to rebuild.")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The conversation as it stood then (ISO 8601; no zone: UTC).")
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.text,
    follow: Annotated[bool, typer.Option("--follow", help="Keep going: print new events as they are stored.")] = False,
    speed: Annotated[
        float | None, typer.Option("--speed", help="Re-play answers' token timing at N x real speed.")
    ] = None,
) -> None:
    """Rebuild a conversation from its events alone (never PostgreSQL), for auditors."""
    from services.audit import replay as audit_replay

    at = _time(as_of)
    settings = common.boot("replay")
    args = argparse.Namespace(session_id=session_id, as_of=at, format=fmt.value, follow=follow, speed=speed)
    audit_replay.main(settings, args)
