"""WebSocket helpers shared by the end-to-end edge tests."""

from __future__ import annotations

import asyncio
import json

import websockets

from events import codec
from events.schema import SessionCreated
from services import bus


def ws_url(base: str, path: str) -> str:
    return base.replace("http://", "ws://") + path


async def recv(ws, wait: float = 10.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), wait))


async def until(ws, predicate, wait: float = 15.0) -> dict:
    """The first frame that satisfies ``predicate``, within ``wait`` seconds in all."""
    async with asyncio.timeout(wait):
        while True:
            frame = json.loads(await ws.recv())
            if predicate(frame):
                return frame


async def closed_with(ws, wait: float = 15.0) -> int:
    """Read until the server closes; its close code."""
    try:
        async with asyncio.timeout(wait):
            async for _ in ws:
                pass
    except websockets.ConnectionClosed:
        pass
    return ws.close_code


async def new_session(js, user: str = "local") -> tuple[str, int]:
    event = codec.make(
        SessionCreated, session_id=codec.new_id(), user_id=user, title="t", llm_provider="local", llm_model="m"
    )
    ack = await bus.publish(js, event)
    return event.session_id, ack.seq
