"""Parley's services run their coroutine on uvloop (installed here with uvicorn[standard])."""

from __future__ import annotations

import asyncio

from services import eventloop


def test_a_service_runs_on_uvloop_and_gets_its_result():
    async def main() -> str:
        await asyncio.sleep(0)
        return type(asyncio.get_running_loop()).__module__

    assert eventloop.run(main()).startswith("uvloop")
