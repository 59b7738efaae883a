"""``parley bench`` options (services/bench/main.py): defaults per mode, and a clear error for
every bad value, through the real command too."""

from __future__ import annotations

import subprocess
import sys

import pytest

from services.bench.errors import BadArguments
from services.bench.main import options


def test_full_defaults_are_the_issues_loads():
    chosen = options([])
    assert chosen.mode == "full"
    assert [(load.name, load.clients, load.rate) for load in chosen.loads] == [
        ("latency", 200, 30.0),
        ("throughput", 1000, 20.0),
    ]
    assert chosen.idle == 1000 and chosen.resume_tokens == 2000 and chosen.baseline


def test_quick_is_smaller_and_options_override_it():
    chosen = options(["--quick", "--clients", "7", "--rate", "20", "--throughput-clients", "0", "--no-baseline"])
    assert chosen.mode == "quick"
    assert [(load.name, load.clients, load.rate) for load in chosen.loads] == [("latency", 7, 20.0)]
    assert chosen.profile_s == 0 and not chosen.baseline


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--clients", "0"], "--clients"),
        (["--rate", "0"], "--rate"),
        (["--duration", "-1"], "--duration"),
        (["--throughput-clients", "-5"], "--throughput-clients"),
        (["--loadgens", "0"], "--loadgens"),
        (["--generation-workers", "0"], "--generation-workers"),
        (["--profile", "-1"], "--profile"),
        (["--resume-tokens", "1"], "--resume-tokens"),
        (["--tokens", "600", "--duration", "10"], "--duration"),  # a 20 s answer in a 10 s run
    ],
)
def test_bad_values_name_the_option(argv, named):
    with pytest.raises(BadArguments, match=named):
        options(argv)


def test_the_command_passes_options_through_and_reports_bad_ones_in_one_line():
    run = subprocess.run(
        [sys.executable, "-m", "services.cli", "bench", "--quick", "--clients", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert run.stderr.strip() == "parley bench: error: --clients must be at least 1, got 0"
    help_text = subprocess.run(
        [sys.executable, "-m", "services.cli", "bench", "--help"], capture_output=True, text=True, timeout=60
    )
    assert help_text.returncode == 0 and "--throughput-clients" in help_text.stdout
