"""structlog set-up: JSON off a terminal, readable console on one.

Handlers bind context per event handled, e.g.
``log = log.bind(session_id=..., message_id=..., stream_seq=...)``, or for a whole task
``structlog.contextvars.bound_contextvars(...)``.
"""

from __future__ import annotations

import logging
import sys

import structlog


class _Stderr:
    """Whatever ``sys.stderr`` is when a line is written, not when logging was configured: a
    process that swaps it (a test runner capturing output, then closing it) keeps logging."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure(level: str = "info", fmt: str = "auto", process: str = "parley") -> None:
    use_console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer = structlog.dev.ConsoleRenderer() if use_console else structlog.processors.JSONRenderer()
    tail = [structlog.processors.format_exc_info] if not use_console else []
    structlog.configure(
        processors=[*shared, *tail, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=_Stderr()),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.bind_contextvars(process=process)
    # Libraries that log through stdlib logging (uvicorn, asyncio) end up on the same stream.
    logging.basicConfig(level=logging.WARNING, stream=_Stderr(), format="%(levelname)s %(name)s: %(message)s")


def get(name: str | None = None) -> structlog.stdlib.BoundLogger:
    return structlog.get_logger(name) if name else structlog.get_logger()
