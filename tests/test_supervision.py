"""When ``parley up`` restarts a part, and when it gives up on it (pure policy, no processes)."""

from __future__ import annotations

import json

from services.supervision import BACKOFF_S, GIVE_UP_AFTER, STABLE_S, Failure, Unit, describe, error_line


def _unit() -> Unit:
    unit = Unit("edge", "service")
    unit.started(0.0)
    return unit


def test_the_same_quick_failure_several_times_in_a_row_gives_up():
    unit, now = _unit(), 0.0
    delays = []
    for _ in range(GIVE_UP_AFTER):
        assert not unit.gave_up()
        now += 1
        delays.append(unit.record(Failure(1, "[Errno 98] address already in use (pid 41)", 1.0), now))
    assert unit.gave_up()
    assert delays == list(BACKOFF_S[:GIVE_UP_AFTER])  # at once first, then slower


def test_different_failures_or_a_long_run_start_the_count_afresh():
    unit = _unit()
    unit.record(Failure(1, "boom", 1.0), 1)
    unit.record(Failure(1, "boom", 1.0), 2)
    unit.record(Failure(2, "other", 1.0), 3)  # not the same way
    assert len(unit.failures) == 1 and not unit.gave_up()
    unit.record(Failure(2, "other", 1.0), 4)
    unit.record(Failure(2, "other", STABLE_S + 1), 5)  # it ran a good while: a new story
    assert len(unit.failures) == 1 and not unit.gave_up()


def test_failures_that_do_not_count_are_restarted_but_never_give_up():
    unit = _unit()
    for now in range(1, 10):
        assert unit.record(Failure(1, "nats: no servers available", 0.5), now, counts=False) == BACKOFF_S[1]
    assert not unit.gave_up()


def test_a_restart_reports_how_long_the_part_was_down():
    unit = _unit()
    unit.record(Failure(-9, "", 10.0), 100.0)
    assert unit.down_since == 100.0
    assert unit.started(101.5) == 1.5 and unit.down_since is None


def test_error_line_finds_the_error_in_json_and_console_logs():
    json_log = [
        json.dumps({"event": "edge starting", "level": "info"}),
        json.dumps({"event": "cannot bind", "level": "error", "error": "[Errno 98] address already in use"}),
        json.dumps({"event": "bye", "level": "info"}),
    ]
    assert error_line(json_log) == "cannot bind: [Errno 98] address already in use"
    console = [
        "\x1b[2m2026\x1b[0m info edge starting",
        "ERROR uvicorn.error: [Errno 98] error while attempting to bind on address ('127.0.0.1', 8000): address already in use",
        "INFO waiting",
    ]
    assert error_line(console).startswith("ERROR uvicorn.error: [Errno 98]")
    assert error_line(["all good", ""]) == ""


def test_describe_says_what_killed_a_silent_process():
    assert describe(-9, "") == "killed by SIGKILL"
    assert describe(3, "") == "exit code 3"
    assert describe(1, "boom") == "boom"
