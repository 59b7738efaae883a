"""``parley generation``: one generation worker, until SIGTERM/SIGINT.

On a stop signal the worker stops fetching prompts, gives answers in flight a few seconds to
finish, and hands the rest back to the queue (another worker restarts them).
"""

from __future__ import annotations

import asyncio
import signal

from services import eventloop, runtime, tracing
from services.generation.worker import Worker
from services.settings import Settings

SHUTDOWN_GRACE_S = 5.0


async def serve(settings: Settings) -> None:
    rt = runtime.resolve(settings, database=False)  # generation never touches PostgreSQL
    tracing.setup(settings, "generation")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    worker = await Worker(settings, nats_url=rt.nats_url, local_base_url=rt.local_base_url).start()
    try:
        await stop.wait()
    finally:
        await worker.stop(SHUTDOWN_GRACE_S)


def main(settings: Settings) -> None:
    eventloop.run(serve(settings))
