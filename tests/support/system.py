"""The whole system as real processes, for end-to-end tests.

The harness lives in ``services/bench/harness.py`` (the benchmark uses it too, and must not
import from tests/); this module keeps the names the tests import.
"""

from __future__ import annotations

from services.bench.harness import Process, System, _wait_http, port_open

__all__ = ["Process", "System", "_wait_http", "port_open"]
