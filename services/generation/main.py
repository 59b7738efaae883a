"""``parley generation``: one generation worker, until SIGTERM/SIGINT.

On a stop signal the worker stops fetching prompts, gives answers in flight a few seconds to
finish, and hands the rest back to the queue (another worker restarts them).
"""

from __future__ import annotations

import asyncio
import signal

from services import runtime
from services.errors import SettingsError
from services.generation.worker import Worker
from services.settings import Settings

SHUTDOWN_GRACE_S = 5.0


def addresses(settings: Settings) -> tuple[str, str | None]:
    """NATS URL and local model URL: explicit settings win, else the running `parley up`'s.

    Like ``runtime.resolve`` but without requiring a database: generation never touches Postgres.
    """
    found = runtime.read(settings.data_dir)
    nats_url = settings.nats_url or (found.nats_url if found else None)
    local = settings.local_base_url or (found.local_base_url if found else None)
    if not nats_url:
        raise SettingsError(f"NATS_URL: not set, and no `parley up` is running in {settings.data_dir}")
    return nats_url, local


async def serve(settings: Settings) -> None:
    nats_url, local_base_url = addresses(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    worker = await Worker(settings, nats_url=nats_url, local_base_url=local_base_url).start()
    try:
        await stop.wait()
    finally:
        await worker.stop(SHUTDOWN_GRACE_S)


def main(settings: Settings) -> None:
    asyncio.run(serve(settings))
