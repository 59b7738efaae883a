"""Reloads, dropped sockets, lost networks: the whole answer, exactly once."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.helpers import (
    answer_text,
    composer,
    connection,
    last_answer,
    open_new_chat,
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


def assert_whole_once(page, edge_url, answer) -> None:
    shown = answer_text(answer)
    assert tokens_of(shown) == list(range(N)), shown
    stored = next(m for m in server_messages(edge_url, session_id(page)) if m["role"] == "assistant")
    assert shown == stored["content"].strip()


def test_reload_mid_answer_shows_the_whole_answer_once(page, edge_url):
    open_new_chat(page, edge_url)
    send(page, f"Stream [[tokens:{N}]] [[rate:30]]")
    wait_tokens(last_answer(page), 15)
    page.reload()
    answer = last_answer(page)
    # Straight after the reload the answer is there already, and still going.
    expect(answer).to_have_attribute("data-status", "streaming")
    wait_live(page)
    wait_status(answer, "complete")
    assert_whole_once(page, edge_url, answer)
    assert page.evaluate("window.parley.snapshot().phase") == "live"


def test_leaving_the_chat_mid_answer_does_not_stop_it(page, edge_url):
    open_new_chat(page, edge_url)
    send(page, f"Stream [[tokens:{N}]] [[rate:40]]")
    wait_tokens(last_answer(page), 10)
    sid = session_id(page)
    page.goto(f"{edge_url}/#/")  # the dashboard, in the same tab
    expect(page.get_by_role("heading", name="LLM dashboard")).to_be_visible()
    page.goto(f"{edge_url}/#/chat/{sid}")
    wait_status(last_answer(page), "complete")
    assert_whole_once(page, edge_url, last_answer(page))


def test_a_dropped_socket_reconnects_and_resumes_without_gap_or_duplicate(page, edge_url):
    open_new_chat(page, edge_url)
    send(page, f"Stream [[tokens:{N}]] [[rate:30]]")
    answer = last_answer(page)
    wait_tokens(answer, 10)
    wait_live(page)
    before = page.evaluate("window.parley.snapshot()")
    page.evaluate("window.parley.drop()")  # as a proxy cutting the connection would
    expect(connection(page)).not_to_have_attribute("data-phase", "live", timeout=2_000)
    wait_live(page)
    after = page.evaluate("window.parley.snapshot()")
    assert after["cursor"] >= before["cursor"]
    wait_status(answer, "complete")
    assert_whole_once(page, edge_url, answer)


def test_a_lost_network_blocks_sending_then_resumes(page, browser_context, edge_url):
    open_new_chat(page, edge_url)
    send(page, f"Stream [[tokens:{N}]] [[rate:30]]")
    answer = last_answer(page)
    wait_tokens(answer, 10)
    wait_live(page)
    browser_context.set_offline(True)
    expect(connection(page)).to_have_attribute("data-phase", "offline")
    expect(connection(page)).to_have_text("Connection: Offline")
    blocked = composer(page).locator(".blocked")
    expect(blocked).to_contain_text("Sending is disabled until the connection is back")
    composer(page).get_by_role("textbox", name="Message").fill("while offline")
    expect(composer(page).get_by_role("button", name="Send message")).to_be_disabled()
    page.wait_for_timeout(1500)  # tokens keep coming on the server meanwhile
    browser_context.set_offline(False)
    wait_live(page)
    expect(blocked).to_have_count(0)
    wait_status(answer, "complete")
    assert_whole_once(page, edge_url, answer)
    expect(composer(page).get_by_role("button", name="Send message")).to_be_enabled()


def test_reconnects_with_backoff_while_the_edge_is_down(page, system, edge_url):
    open_new_chat(page, edge_url)
    send(page, "Hello [[tokens:3]] [[rate:0]]")
    wait_status(last_answer(page), "complete")
    wait_live(page)
    edge = system.process("edge-0")
    edge.stop()
    expect(connection(page)).to_contain_text("Reconnecting", timeout=10_000)
    expect(composer(page).locator(".blocked")).to_contain_text("Sending is disabled")
    assert page.evaluate("window.parley.snapshot().phase") in ("waiting", "connecting")
    edge.start()
    retry = page.get_by_role("button", name="Retry now")
    if retry.is_visible():  # skip the rest of the current backoff delay
        retry.click()
    wait_live(page, timeout=40_000)
    send(page, "Back again [[tokens:4]] [[rate:0]]")
    wait_status(last_answer(page), "complete")
    assert tokens_of(answer_text(last_answer(page))) == list(range(4))
