"""What the browser tests do and read, in the UI's own terms (roles, labels, data attributes)."""

from __future__ import annotations

import re
import time

import httpx
from playwright.sync_api import Locator, Page, expect

API = "/api/v1"


def composer(page: Page) -> Locator:
    return page.locator("form.composer").last


def message_box(page: Page) -> Locator:
    return composer(page).get_by_role("textbox", name="Message")


def send(page: Page, text: str) -> None:
    box = message_box(page)
    expect(box).to_be_editable()
    box.fill(text)
    expect(composer(page).get_by_role("button", name="Send message")).to_be_enabled()
    box.press("Enter")


def answers(page: Page) -> Locator:
    return page.locator("article.msg.assistant")


def last_answer(page: Page) -> Locator:
    return answers(page).last


def answer_text(answer: Locator) -> str:
    return answer.locator(".bubble .md").inner_text().strip()


def tokens_of(text: str) -> list[int]:
    """The scripted LLM's default reply is ``tok0 tok1 ...``: its numbers, in the order shown."""
    return [int(n) for n in re.findall(r"tok(\d+)", text)]


def wait_tokens(answer: Locator, at_least: int, timeout: float = 20.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen = tokens_of(answer_text(answer)) if answer.locator(".bubble .md").count() else []
        if len(seen) >= at_least:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"fewer than {at_least} tokens shown within {timeout}s: {answer_text(answer)!r}")


def wait_status(answer: Locator, status: str, timeout: float = 30_000) -> None:
    expect(answer).to_have_attribute("data-status", status, timeout=timeout)


def session_id(page: Page) -> str:
    expect(page).to_have_url(re.compile(r"#/chat/[^/]+$"))
    return page.url.rsplit("/", 1)[-1]


def connection(page: Page) -> Locator:
    return page.locator(".conn-badge")


def wait_live(page: Page, timeout: float = 20_000) -> None:
    expect(connection(page)).to_have_attribute("data-phase", "live", timeout=timeout)


def server_messages(edge_url: str, sid: str) -> list[dict]:
    response = httpx.get(f"{edge_url}{API}/chat/sessions/{sid}/messages", params={"page_size": 200}, timeout=10)
    response.raise_for_status()
    return response.json()


def wait_server(edge_url: str, sid: str, check, timeout: float = 30.0) -> list[dict]:
    """Poll the server's messages until ``check(messages)`` holds."""
    deadline = time.monotonic() + timeout
    messages: list[dict] = []
    while time.monotonic() < deadline:
        messages = server_messages(edge_url, sid)
        if check(messages):
            return messages
        time.sleep(0.1)
    raise AssertionError(f"server messages never satisfied the check: {messages!r}")


def create_session(edge_url: str, title: str) -> dict:
    response = httpx.post(f"{edge_url}{API}/chat/sessions", json={"title": title}, timeout=10)
    response.raise_for_status()
    return response.json()


def post_message(edge_url: str, sid: str, content: str) -> dict:
    response = httpx.post(f"{edge_url}{API}/chat/sessions/{sid}/messages", json={"content": content}, timeout=10)
    response.raise_for_status()
    return response.json()


def open_new_chat(page: Page, edge_url: str) -> None:
    page.goto(f"{edge_url}/#/chat")
    expect(message_box(page)).to_be_visible()
