"""The web UI's unit tests (vitest: reducer, resume cursor, backoff, announcer, parsers), run from
pytest so the one test command covers them too."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.browser.conftest import WEB


def test_vitest_suite_passes(web_dist):  # web_dist: node_modules installed, UI built
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is missing: install Node.js 20+ (./dev does the rest)")
    result = subprocess.run([npm, "test", "--silent"], cwd=WEB, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "failed" not in result.stdout.split("Tests", 1)[-1], result.stdout[-2000:]
