"""Logging writes to whatever stderr is now: configured once, it survives a runner swapping and
closing the stream it had (pytest's capture did, and every later log line then raised)."""

from __future__ import annotations

import io
import sys

from services import logs


def test_a_closed_earlier_stderr_does_not_break_logging(monkeypatch):
    first = io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    logs.configure(fmt="json", process="t")
    log = logs.get("t")
    log.info("into the first stream")
    assert "into the first stream" in first.getvalue()
    first.close()
    second = io.StringIO()
    monkeypatch.setattr(sys, "stderr", second)
    log.info("into the second stream")
    assert "into the second stream" in second.getvalue()
