"""``parley bench``: its options belong to the bench's own parser (``services/bench/main.py``)."""

from __future__ import annotations

import typer

from services.commands import common
from services.errors import ParleyError


def bench(ctx: typer.Context) -> None:
    """Benchmarks: Parley under WebSocket load next to a direct baseline (`parley bench --help`)."""
    settings = common.boot("bench")
    try:
        from services.bench.main import main as bench_main
    except ModuleNotFoundError:
        raise ParleyError("benchmarks are not part of this build") from None
    bench_main(settings, list(ctx.args))


# Every option, --help included, passes through to the bench's own parser.
CONTEXT = {"allow_extra_args": True, "ignore_unknown_options": True, "help_option_names": []}
