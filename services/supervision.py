"""The processes ``parley up`` keeps running, and when it gives up on one (``tick``, each 0.1 s).

Each is a ``Unit``: an embedded server (NATS, PostgreSQL, the model; restarted on the same port
and data) or a service (``parley edge|generation|projections``). One that exits is restarted
after a growing delay; one that fails the same way ``GIVE_UP_AFTER`` times in a row, each
time within ``STABLE_S`` of its start, is reported once and ``parley up`` stops.
"""

from __future__ import annotations

import collections
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services import lifeline, logs
from services.embedded import log_tail
from services.errors import StartupError

log = logs.get("supervisor")  # the name `parley up` logs restarts under

BACKOFF_S = (0.2, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0)
STABLE_S = 30.0  # a process that ran this long before failing starts its count afresh
GIVE_UP_AFTER = 3

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_ERRORISH = re.compile(r"error|exception|errno|fatal|panic|refused|denied|in use", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Failure:
    code: int | None  # exit code (negative: killed by that signal); None: could not start
    error: str
    ran_s: float

    @property
    def signature(self) -> tuple[int | None, str]:
        return (self.code, re.sub(r"\d+", "#", self.error))  # pids and times differ between runs


def error_line(lines: list[str]) -> str:
    """The line of a log tail that best says why a process ended: the last error-level JSON
    event (with its exception's last line), else the last line that looks like an error."""
    for raw in reversed(lines):
        line = _ANSI.sub("", raw).strip()
        if not line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            record = None
        if isinstance(record, dict):
            if str(record.get("level", "")).lower() in {"error", "critical", "fatal"}:
                detail = record.get("error") or str(record.get("exception", "")).strip().splitlines()[-1:]
                detail = detail if isinstance(detail, str) else "".join(detail)
                return f"{record.get('event', '')}: {detail}".strip(": ")[:500]
            continue
        if _ERRORISH.search(line):
            return line[:500]
    return ""


def describe(code: int | None, error: str) -> str:
    """``error``, or what the exit code says when the process left no error line."""
    if error or code is None:
        return error
    if code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"


@dataclass
class Unit:
    name: str
    kind: str  # "server" (embedded) or "service"
    failures: list[Failure] = field(default_factory=list)  # the current run of identical failures
    started_at: float = 0.0
    down_since: float | None = None
    next_start: float = 0.0

    # -- what a subclass provides --------------------------------------------------------------
    def start(self) -> None:
        raise NotImplementedError

    def process(self) -> subprocess.Popen | None:
        raise NotImplementedError

    def last_error(self) -> str:
        raise NotImplementedError

    def stop(self, force: Callable[[], bool]) -> None:
        raise NotImplementedError

    # -- the policy ----------------------------------------------------------------------------
    def exited(self) -> int | None:
        """The exit code if the process ended since it was last (re)started, else None."""
        proc = self.process()
        if self.down_since is not None or proc is None:
            return None
        return proc.poll()

    def record(self, failure: Failure, now: float, counts: bool = True) -> float:
        """Note a failure; returns the delay before the next start."""
        if self.down_since is None:
            self.down_since = now
        same = self.failures and self.failures[-1].signature == failure.signature
        if not counts or failure.ran_s >= STABLE_S or not same:
            self.failures = []
        if counts:
            self.failures.append(failure)
        # The first restart is almost at once (a crash, an OOM kill); then slower and slower.
        delay = BACKOFF_S[min(len(self.failures) - 1, len(BACKOFF_S) - 1)] if self.failures else BACKOFF_S[1]
        self.next_start = now + delay
        return delay

    def gave_up(self) -> bool:
        return len(self.failures) >= GIVE_UP_AFTER

    def started(self, now: float) -> float | None:
        """Mark a successful (re)start; returns how long it was down, if it was."""
        down = None if self.down_since is None else now - self.down_since
        self.started_at, self.down_since = now, None
        return down


class Server(Unit):
    """An embedded server object (services.embedded) with ``start``, ``stop``, ``proc``, ``log_file``."""

    def __init__(self, name: str, server: Any) -> None:
        super().__init__(name, "server")
        self.server = server

    def start(self) -> None:
        self.server.start()

    def process(self) -> subprocess.Popen | None:
        return self.server.proc

    def last_error(self) -> str:
        path: Path | None = getattr(self.server, "log_file", None)
        return error_line(log_tail(path).splitlines()) if path else ""

    def stop(self, force: Callable[[], bool]) -> None:
        self.server.stop(force)


class Service(Unit):
    """``parley <name>`` as a child; its stderr is passed through and its tail kept for errors."""

    def __init__(self, name: str, index: int, env: dict[str, str], command: list[str] | None = None) -> None:
        super().__init__(name if index == 0 else f"{name}-{index}", "service")
        self.command, self.index, self.env = command or [name], index, env
        self.proc: subprocess.Popen | None = None
        self.tail: collections.deque[str] = collections.deque(maxlen=50)

    def start(self) -> None:
        self.tail = collections.deque(maxlen=50)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "services.cli", *self.command],
            env=self.env,
            stderr=subprocess.PIPE,
            preexec_fn=lifeline.preexec(),
        )
        threading.Thread(target=_relay, args=(self.proc.stderr, self.tail), daemon=True).start()

    def process(self) -> subprocess.Popen | None:
        return self.proc

    def last_error(self) -> str:
        time.sleep(0.05)  # let the relay read the last lines the process wrote
        return error_line(list(self.tail))


# -- the loop `parley up` runs -------------------------------------------------------------------


def tick(servers: list[Server], services: list[Service]) -> Unit | None:
    """Restart what exited, start what is due; the part given up on, when one keeps failing."""
    now = time.monotonic()
    for unit in [*servers, *services]:
        exit_code = unit.exited()
        if exit_code is not None:
            failure = Failure(exit_code, describe(exit_code, unit.last_error()), now - unit.started_at)
            # A service that failed while NATS or PostgreSQL was down or restarting is a symptom,
            # not the cause: restarted, but not counted towards giving up.
            settled = all(s.down_since is None and s.started_at <= unit.started_at for s in servers)
            delay = unit.record(failure, now, counts=unit.kind == "server" or settled)
            if unit.gave_up():
                return unit
            log.warning(
                f"{unit.name} exited; restarting", part=unit.name, code=exit_code, error=failure.error, in_s=delay
            )
        elif unit.down_since is not None and now >= unit.next_start:
            restart(unit)
            if unit.gave_up():
                return unit
    return None


def restart(unit: Unit) -> None:
    try:
        unit.start()
    except StartupError as exc:
        now = time.monotonic()
        delay = unit.record(Failure(None, str(exc), 0.0), now)
        log.warning(f"{unit.name} did not start; retrying", part=unit.name, error=str(exc), in_s=delay)
        return
    down = unit.started(time.monotonic())
    log.info(f"{unit.name} restarted", part=unit.name, down_s=round(down or 0.0, 3))


def _relay(stream, tail: collections.deque[str]) -> None:
    out = sys.stderr.buffer if hasattr(sys.stderr, "buffer") else None
    for line in iter(stream.readline, b""):
        tail.append(line.decode(errors="replace"))
        try:
            if out is not None:
                out.write(line)
                out.flush()
        except (OSError, ValueError):  # our stderr is gone (closed terminal): keep draining
            out = None
    stream.close()
