"""The scripted server in-process, for unit tests: ``async with ScriptedLLM() as llm: llm.base_url``."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import httpx
import uvicorn

from services.scripted_llm.app import Dropped, Record, State, build
from services.scripted_llm.script import Script


class _QuietServer(uvicorn.Server):
    # In-process the test runner owns the signals.
    @contextlib.contextmanager
    def capture_signals(self):
        yield


class _NoScriptedDrops(logging.Filter):
    # A scripted drop is the point of the request, not a server error worth a traceback.
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], Dropped))


logging.getLogger("uvicorn.error").addFilter(_NoScriptedDrops())


def config(app, host: str, port: int, log_level: str = "warning") -> uvicorn.Config:
    # lifespan off: the app has none; a short graceful shutdown so a hanging stream cannot hold a stop.
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, lifespan="off", timeout_graceful_shutdown=1)


class ScriptedLLM:
    """A real HTTP server on loopback. ``url`` is its root, ``base_url`` the OpenAI ``/v1`` base."""

    def __init__(
        self, script: Script | None = None, *, host: str = "127.0.0.1", port: int = 0, **defaults: Any
    ) -> None:
        base = script or Script()
        self.app = build(Script(**{**_fields(base), **defaults}) if defaults else base)
        self.host, self.port = host, port
        self._server: _QuietServer | None = None
        self._task: asyncio.Task | None = None

    @property
    def state(self) -> State:
        return self.app.state.scripted

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    @property
    def records(self) -> list[Record]:
        return self.state.records

    def script(self, **changes: Any) -> Script:
        """Change the server-wide defaults (like ``POST /_script``)."""
        from services.scripted_llm.script import updated

        self.state.script = updated(self.state.script, changes)
        return self.state.script

    async def start(self) -> ScriptedLLM:
        self._server = _QuietServer(config(self.app, self.host, self.port))
        self._task = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._task.done():
                self._task.result()  # raises why it could not start
                raise RuntimeError("scripted LLM server stopped while starting")
            await asyncio.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._server = self._task = None

    async def wait_for(self, predicate) -> Record:
        """The first record that satisfies ``predicate``, waiting for it (wrap in ``asyncio.timeout``)."""
        while True:
            for record in self.records:
                if predicate(record):
                    return record
            await asyncio.sleep(0.005)

    async def __aenter__(self) -> ScriptedLLM:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


def _fields(script: Script) -> dict[str, Any]:
    import msgspec

    return msgspec.structs.asdict(script)


async def fetch_records(url: str) -> list[dict[str, Any]]:
    """The records of a scripted server running elsewhere (``GET /_record``)."""
    async with httpx.AsyncClient() as client:
        response = await client.get(f"{url}/_record")
        response.raise_for_status()
        return response.json()
