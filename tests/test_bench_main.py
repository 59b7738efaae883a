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
    named = {load.name: load for load in chosen.loads}
    assert (named["single"].clients, named["single"].rate) == (1, 30.0)
    assert [(load.name, load.clients, load.rate) for load in chosen.loads if load.name.startswith("throughput")] == [
        ("throughput-150", 150, 20.0),
        ("throughput", 1000, 20.0),
    ]
    curve = [(load.clients, load.tokens) for load in chosen.loads if load.group == "scaling"]
    assert curve == [(n, t) for t in (40, 400) for n in (25, 50, 100, 200, 400, 800)]
    assert all(load.rate == 30.0 for load in chosen.loads if load.group == "scaling")
    # Each point lasts long enough for a few answers: 400 tokens at 30/s take 13.3 s.
    assert named["scale-800x400"].duration_s == 26.7 and named["scale-25x40"].duration_s == 10.0
    assert named["open"].arrival_rate == 75.0 and named["open"].clients >= 100  # 75/s × 1.33 s in flight
    assert chosen.idle == 1000 and chosen.resume_tokens == 2000 and chosen.baseline
    assert chosen.profile_scenario == "scale-100x40" and chosen.trace_sample == 0.2
    assert chosen.sync_compare == "always" and options(["--quick"]).sync_compare == ""


def test_quick_is_smaller_and_options_override_it():
    chosen = options(["--quick"])
    assert [load.name for load in chosen.loads] == ["single", "latency", "throughput", "scale-40x90", "open"]
    assert sum(load.duration_s for load in chosen.loads) < 40  # each on both systems: about two minutes
    only_latency = ["--single-duration", "0", "--scaling-tokens", "", "--open-rate", "0"]
    chosen = options(
        ["--quick", "--clients", "7", "--rate", "20", "--throughput-clients", "0", "--no-baseline", *only_latency]
    )
    assert chosen.mode == "quick"
    assert [(load.name, load.clients, load.rate) for load in chosen.loads] == [("latency", 7, 20.0)]
    assert chosen.profile_s == 0 and not chosen.baseline


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--clients", "-1"], "--clients"),
        (["--rate", "0"], "--rate"),
        (["--duration", "-1"], "--duration"),
        (["--throughput-clients", "-5"], "--throughput-clients"),
        (["--loadgens", "0"], "--loadgens"),
        (["--generation-workers", "0"], "--generation-workers"),
        (["--profile", "-1"], "--profile"),
        (["--resume-tokens", "1"], "--resume-tokens"),
        (["--tokens", "600", "--duration", "10", "--clients", "5"], "--duration"),  # a 20 s answer in a 10 s run
        (["--scaling", "25,x"], "--scaling"),
        (["--scaling", "0"], "--scaling"),
        (["--trace-sample", "1.5"], "--trace-sample"),
        (["--open-rate", "-1"], "--open-rate"),
    ],
)
def test_bad_values_name_the_option(argv, named):
    with pytest.raises(BadArguments, match=named):
        options(argv)


def test_the_command_passes_options_through_and_reports_bad_ones_in_one_line():
    run = subprocess.run(
        [sys.executable, "-m", "services.cli", "bench", "--quick", "--clients", "-1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2
    assert run.stderr.strip() == "parley bench: error: --clients must be 0 or more, got -1"
    help_text = subprocess.run(
        [sys.executable, "-m", "services.cli", "bench", "--help"], capture_output=True, text=True, timeout=60
    )
    assert help_text.returncode == 0 and "--throughput-clients" in help_text.stdout
