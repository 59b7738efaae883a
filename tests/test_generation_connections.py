"""Answers do not leak connections to the provider (each ends by closing or returning its socket)."""

from __future__ import annotations

import os

from tests.support.generation import new_session, send, wait_ended
from tests.test_generation_worker import llm, workers  # noqa: F401 (fixtures)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_answers_do_not_leak_provider_connections(js, workers, llm):  # noqa: F811
    await workers()
    sid = await new_session(js)
    _, aid = await send(js, sid, "warm up [[tokens:3]]")
    await wait_ended(js, sid, aid)
    before = open_fds()
    for i in range(30):
        _, aid = await send(js, sid, f"answer {i} [[tokens:3]]")
        await wait_ended(js, sid, aid)
    assert open_fds() - before < 5, (before, open_fds())
