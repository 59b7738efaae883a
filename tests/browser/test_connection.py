"""Reloads, dropped sockets, lost networks, a stopped edge: the whole answer, exactly once."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import expect

from tests.browser.helpers import (
    answer_text,
    answers,
    composer,
    connection,
    last_answer,
    open_new_chat,
    retry_now,
    send,
    server_messages,
    session_id,
    tokens_of,
    wait_live,
    wait_status,
    wait_tokens,
)

pytestmark = pytest.mark.browser

N = 150


async def assert_whole_once(page, edge_url, answer) -> None:
    shown = await answer_text(answer)
    assert tokens_of(shown) == list(range(N)), shown
    stored = next(m for m in await server_messages(edge_url, await session_id(page)) if m["role"] == "assistant")
    assert shown == stored["content"].strip()


async def test_reload_mid_answer_shows_the_whole_answer_once(page, edge_url):
    await open_new_chat(page, edge_url)
    await send(page, f"Stream [[tokens:{N}]] [[rate:30]]")
    await wait_tokens(last_answer(page), 15)
    await page.reload()
    answer = last_answer(page)
    # Straight after the reload the answer is there already, and still going.
    await expect(answer).to_have_attribute("data-status", "streaming")
    await wait_live(page)
    await wait_status(answer, "complete")
    await assert_whole_once(page, edge_url, answer)


async def test_leaving_the_chat_mid_answer_does_not_stop_it(page, edge_url):
    await open_new_chat(page, edge_url)
    await send(page, f"Stream [[tokens:{N}]] [[rate:40]]")
    await wait_tokens(last_answer(page), 10)
    sid = await session_id(page)
    await page.goto(f"{edge_url}/#/")  # the dashboard, in the same tab
    await expect(page.get_by_role("heading", name="LLM dashboard")).to_be_visible()
    await page.goto(f"{edge_url}/#/chat/{sid}")
    await wait_status(last_answer(page), "complete")
    await assert_whole_once(page, edge_url, last_answer(page))


async def test_a_dropped_socket_reconnects_and_resumes_without_gap_or_duplicate(page, edge_url):
    await open_new_chat(page, edge_url)
    await send(page, f"Stream [[tokens:{N}]] [[rate:30]]")
    answer = last_answer(page)
    await wait_tokens(answer, 10)
    await wait_live(page)
    before = await page.evaluate("window.parley.snapshot()")
    await page.evaluate("window.parley.drop()")  # as a proxy cutting the connection would
    await expect(connection(page)).not_to_have_attribute("data-phase", "live", timeout=2_000)
    await wait_live(page)
    after = await page.evaluate("window.parley.snapshot()")
    assert after["cursor"] >= before["cursor"]
    await wait_status(answer, "complete")
    await assert_whole_once(page, edge_url, answer)


async def test_a_lost_network_blocks_sending_then_resumes(page, browser_context, edge_url):
    await open_new_chat(page, edge_url)
    await send(page, f"Stream [[tokens:{N}]] [[rate:30]]")
    answer = last_answer(page)
    await wait_tokens(answer, 10)
    await wait_live(page)
    await browser_context.set_offline(True)
    await expect(connection(page)).to_have_attribute("data-phase", "offline")
    await expect(connection(page)).to_have_text("Connection: Offline")
    blocked = composer(page).locator(".blocked")
    await expect(blocked).to_contain_text("Sending is disabled until the connection is back")
    await composer(page).get_by_role("textbox", name="Message").fill("while offline")
    await expect(composer(page).get_by_role("button", name="Send message")).to_be_disabled()
    await page.wait_for_timeout(1500)  # tokens keep coming on the server meanwhile
    await browser_context.set_offline(False)
    await wait_live(page)
    await expect(blocked).to_have_count(0)
    await wait_status(answer, "complete")
    await assert_whole_once(page, edge_url, answer)
    await expect(composer(page).get_by_role("button", name="Send message")).to_be_enabled()


async def test_reconnects_with_backoff_while_the_edge_is_down(page, system, edge_url):
    await open_new_chat(page, edge_url)
    await send(page, "Hello [[tokens:3]] [[rate:0]]")
    await wait_status(last_answer(page), "complete")
    await wait_live(page)
    edge = system.process("edge-0")
    await asyncio.to_thread(edge.stop)
    await expect(connection(page)).to_contain_text("Reconnecting", timeout=20_000)
    await expect(composer(page).locator(".blocked")).to_contain_text("Sending is disabled")
    assert await page.evaluate("window.parley.snapshot().phase") in ("waiting", "connecting")
    await asyncio.to_thread(edge.start)
    await retry_now(page)
    await wait_live(page, ms=40_000)
    await send(page, "Back again [[tokens:4]] [[rate:0]]")
    await expect(answers(page)).to_have_count(2)
    await wait_status(last_answer(page), "complete")
    assert tokens_of(await answer_text(last_answer(page))) == list(range(4))
