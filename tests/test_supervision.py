"""When ``parley up`` restarts a part, and when it gives up on it: the policy (pure), then its
loop (``tick``) over real processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from services.supervision import (
    BACKOFF_S,
    GIVE_UP_AFTER,
    STABLE_S,
    Failure,
    Server,
    Service,
    Unit,
    describe,
    error_line,
    tick,
)


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


class Crashing:
    """A server whose real process fails at once, the same way every time."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        self.proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(3)"])

    def stop(self, force) -> None:
        if self.proc is not None:
            self.proc.wait(5)


def until_given_up(servers: list[Server], services: list[Service], within_s: float) -> Unit | None:
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if (unit := tick(servers, services)) is not None:
            return unit
        time.sleep(0.02)
    return None


def test_the_loop_restarts_a_failing_part_and_gives_up_on_the_third_same_failure():
    crashing = Crashing()
    server = Server("model", crashing)
    server.start()
    server.started(time.monotonic())
    assert until_given_up([server], [], within_s=20) is server
    assert crashing.starts == GIVE_UP_AFTER  # started, then restarted after each of the first failures
    assert [f.error for f in server.failures] == ["exit code 3"] * GIVE_UP_AFTER


def test_a_service_failing_while_a_server_is_down_is_restarted_but_not_counted():
    server = Server("nats", Crashing())
    server.record(Failure(-9, "killed by SIGKILL", 5.0), time.monotonic())  # down, restarting later
    server.next_start = time.monotonic() + 3600
    service = Service("edge", 0, dict(os.environ), ["no-such-command"])  # a real `parley` that exits 2
    service.start()
    service.started(time.monotonic())
    runs = {service.proc}
    deadline = time.monotonic() + 30
    while len(runs) < GIVE_UP_AFTER + 1 and time.monotonic() < deadline:
        assert tick([server], [service]) is None
        assert service.failures == []  # a symptom of the server being down: never counted
        runs.add(service.proc)
        time.sleep(0.02)
    assert len(runs) == GIVE_UP_AFTER + 1, "restarted after each failure"
    service.proc.wait(10)
