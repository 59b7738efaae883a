"""PostgreSQL from the binaries ``pgserver`` ships, its data under one folder."""

from __future__ import annotations

import os
import signal
import subprocess
import warnings
from collections.abc import Callable
from pathlib import Path

from services import credentials
from services.embedded.process import free_port, never, port_open, preexec, stop_process, wait_ready
from services.errors import StartupError


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
                preexec_fn=preexec(self.die_with_parent, signal.SIGQUIT),
            )
        wait_ready(self._ready, timeout, "postgres", self.proc, log)
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

    def stop(self, force: Callable[[], bool] = never) -> None:
        stop_process(self.proc, signal.SIGINT, 30, force)  # SIGINT: "fast" shutdown, clean checkpoint

    def kill(self) -> None:
        stop_process(self.proc, signal.SIGKILL, 5)
