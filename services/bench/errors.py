"""Errors of the benchmark: each says which part failed and where its log is."""

from __future__ import annotations

from services.errors import ParleyError


class BenchError(ParleyError):
    """The benchmark could not run (a part did not start, a client process died)."""


class BadArguments(BenchError):
    """A command-line value is out of range; the message names the option."""
