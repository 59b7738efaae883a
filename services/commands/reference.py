"""Reference output for docs and tools: ``parley events schema``, ``parley settings``."""

from __future__ import annotations

import json

from services.commands import common


def events_schema() -> None:
    """Print the JSON Schema of every stored event."""
    from events import codec

    common.boot("events-schema")
    print(json.dumps(codec.json_schema(), indent=2))


def settings_table() -> None:
    """Print every setting (environment variable) as a Markdown table."""
    from services.settings import table

    common.boot("settings")
    print(table())
