"""Adaptive coalescing: the chunk window follows the worker's event-loop lag, within its budget."""

from __future__ import annotations

import asyncio
import time

from services.generation import pressure
from services.generation.coalescer import Coalescer, Token, step
from services.generation.pressure import Pressure


def test_the_window_is_the_idle_one_until_the_loop_lags_then_grows_to_the_budget():
    assert pressure.window_ms(5, 20, lag_ms=0) == 5
    assert pressure.window_ms(5, 20, lag_ms=pressure.LAG_FREE_MS) == 5
    middle = (pressure.LAG_FREE_MS + pressure.LAG_FULL_MS) / 2
    assert pressure.window_ms(5, 20, lag_ms=middle) == 12.5
    assert pressure.window_ms(5, 20, lag_ms=pressure.LAG_FULL_MS) == 20
    assert pressure.window_ms(5, 20, lag_ms=500) == 20  # never past the budget
    assert pressure.window_ms(15, 10, lag_ms=500) == 15  # a budget below the idle window adds nothing


def test_a_bigger_window_puts_more_tokens_in_a_chunk_and_the_first_still_goes_at_once():
    def chunks(window_ms: float) -> list[int]:
        state, out = Coalescer.of(window_ms, 32), []
        for i in range(20):  # 100 tokens/s: 10 ms apart
            state, cut = step(state, Token("t", i * 0.010))
            out += cut
            if i == 0:
                assert cut, "the first token after a pause is not held back"
        return [c.token_count for c in out]

    assert len(chunks(20)) < len(chunks(5))


async def test_the_meter_sees_a_stalled_loop_and_calms_down_after():
    meter = Pressure(idle_ms=5, budget_ms=20).start()
    try:
        for _ in range(6):
            await asyncio.sleep(pressure.PERIOD_S / 2)
            time.sleep(0.06)  # noqa: ASYNC251 - a blocking call stalls the loop, on purpose
        assert meter.lag_ms > pressure.LAG_FREE_MS and meter.window_ms > 5
        stalled = meter.lag_ms
        await asyncio.sleep(40 * pressure.PERIOD_S)
        assert meter.lag_ms < stalled / 2
    finally:
        await meter.stop()
